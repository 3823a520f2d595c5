import ArchiveBackfill
import ArchiveServer
import ArgumentParser
import Foundation

/// What the commands that call CircleCI's API share: `--api-url`, and the token from CIRCLE_TOKEN.
struct APIOptions: ParsableArguments {
    @Option(help: ArgumentHelp("CircleCI's API v2 base URL; for CircleCI server, https://HOST/api/v2.", valueName: "url"))
    var apiURL: String = BackfillOptions.defaultAPIURL

    func validate() throws {
        guard let url = URL(string: apiURL), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
            throw ValidationError("--api-url must be an http or https URL")
        }
    }

    /// The personal API token; it is sent as the Circle-Token header and never printed.
    func token(_ environment: [String: String]) throws(ConfigurationError) -> String {
        guard let token = environment["CIRCLE_TOKEN"], !token.isEmpty else {
            throw ConfigurationError(
                "no API token: set CIRCLE_TOKEN to a personal API token (CircleCI → User Settings → Personal API Tokens)"
            )
        }
        return token
    }
}
