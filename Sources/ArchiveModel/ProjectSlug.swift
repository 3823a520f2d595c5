/// CircleCI spells one project two ways: webhooks send `github/ORG/REPO` and `bitbucket/ORG/REPO`,
/// while API v2, the web app and most documentation say `gh/ORG/REPO` and `bb/ORG/REPO`. The
/// archive stores the short form (the one people type, and the API's own), and every place that
/// matches a slug (report and export filters, backfill progress, `/metrics` labels) compares
/// canonical forms, so both spellings find the same project. GitLab and GitHub App projects
/// (`circleci/ORG-ID/PROJECT-ID`) have one spelling and are kept as sent. The raw payload in
/// `events` keeps what CircleCI sent.
public enum ProjectSlug {
    /// Long VCS names and the short ones the archive stores instead.
    static let shortNames = ["github": "gh", "bitbucket": "bb"]

    /// The stored spelling of `slug`: its first segment shortened when it is `github` or
    /// `bitbucket` (in any letter case), everything else unchanged.
    public static func canonical(_ slug: String) -> String {
        guard let slash = slug.firstIndex(of: "/") else { return slug }
        let vcs = slug[..<slash].lowercased()
        if let short = shortNames[vcs] { return short + slug[slash...] }
        if shortNames.values.contains(vcs) { return vcs + slug[slash...] }
        return slug
    }
}
