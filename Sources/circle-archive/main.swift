import CircleArchiveCLI

await CircleArchive.main()
