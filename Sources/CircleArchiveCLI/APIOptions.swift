import ArchiveBackfill
import ArchiveServer
import ArgumentParser
import Foundation

/// What every command that calls CircleCI's API shares (`serve`'s enrichment, `backfill`,
/// `enrich`): where the API is, and the token, each read in this one place.
struct APIOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "CircleCI's API v2 base URL; for CircleCI server, https://HOST/api/v2.",
            discussion: "Default: $\(Setting.prefix)API_URL, else \(APIConnection.defaultURL).",
            valueName: "url"
        )
    )
    var apiURL: String?

    @Option(
        help: ArgumentHelp(
            "File whose first line is a CircleCI API token.",
            discussion: "Default: $CIRCLE_TOKEN (a personal API token; it is sent as the Circle-Token header and never printed).",
            valueName: "path"
        )
    )
    var circleciTokenFile: String?

    func validate() throws {
        if let apiURL { try Self.check(apiURL) }
    }

    /// The API's base URL: the flag, then CIRCLE_ARCHIVE_API_URL, then CircleCI's cloud.
    func url(_ environment: [String: String]) throws -> String {
        let url = Setting(environment: environment).text(apiURL, "API_URL", default: APIConnection.defaultURL)
        try Self.check(url)
        return url
    }

    /// The connection of a command that cannot work without a token.
    func connection(_ environment: [String: String], concurrency: Int) throws -> APIConnection {
        APIConnection(url: try url(environment), token: try requiredToken(environment), concurrency: concurrency)
    }

    private static func check(_ text: String) throws {
        guard let url = URL(string: text), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
            throw ValidationError("--api-url must be an http or https URL")
        }
    }

    /// The token: the file's first line, else CIRCLE_TOKEN; nil when there is neither.
    func token(_ environment: [String: String]) throws(ConfigurationError) -> String? {
        if let file = circleciTokenFile {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ConfigurationError("cannot read the CircleCI token file \(file)")
            }
            let token = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).first.map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            guard let token, !token.isEmpty else { throw ConfigurationError("the CircleCI token file \(file) is empty") }
            return token
        }
        return environment["CIRCLE_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The token, for a command that cannot work without one.
    func requiredToken(_ environment: [String: String]) throws(ConfigurationError) -> String {
        guard let token = try token(environment) else {
            throw ConfigurationError(
                "no API token: set CIRCLE_TOKEN to a personal API token (CircleCI → User Settings → Personal API Tokens)"
            )
        }
        return token
    }

    /// `--concurrency` of the commands that fetch: 1 to 16 requests' worth of work at once.
    static func validate(concurrency: Int) throws {
        guard (1...16).contains(concurrency) else { throw ValidationError("--concurrency must be 1 to 16") }
    }
}
