import ArchiveModel
import Crypto

/// Checks CircleCI's `circleci-signature` header: a comma-separated list of `version=signature`
/// entries, where `v1` is the lowercase hex HMAC-SHA256 of the raw body keyed with the webhook
/// secret. Only `v1` entries count (other versions are ignored, which also rules out a downgrade);
/// the delivery is authentic when any `v1` entry matches the MAC under any configured secret.
public struct SignatureVerifier: Sendable {
    private let keys: [SymmetricKey]

    public init(secrets: [String]) {
        keys = secrets.map { SymmetricKey(data: Array($0.utf8)) }
    }

    /// Why a delivery was refused. The sender gets the same generic 401 whatever the reason (it
    /// must not help a forger); the operator's log line says which, to know what to fix.
    public enum Refusal: String, Sendable, Equatable {
        case missing = "no circleci-signature header"
        case repeated = "more than one circleci-signature header"
        case noVersion1 = "circleci-signature has no v1= entry"
        case malformed = "circleci-signature's v1= entry is not 64 hex digits"
        /// The usual misconfiguration: the secret in CircleCI's webhook form differs from ours.
        case noMatch = "signature matches none of the configured secrets (is the secret in CircleCI's webhook the same?)"
    }

    /// `headerValues` holds every `circleci-signature` field of the request. A request must carry
    /// exactly one; a repeated header is refused rather than guessed at. Returns nil when authentic.
    public func refusal(body: [UInt8], headerValues: [String]) -> Refusal? {
        guard !headerValues.isEmpty else { return .missing }
        guard headerValues.count == 1 else { return .repeated }
        let entries = Self.v1Entries(in: headerValues[0])
        guard !entries.isEmpty else { return .noVersion1 }
        let candidates = entries.compactMap { Hex.decode($0, byteCount: SHA256.byteCount) }
        guard !candidates.isEmpty else { return .malformed }
        var matched = false
        for key in keys {
            for candidate in candidates {
                // swift-crypto compares in constant time; every pair is tried, so the time taken
                // does not depend on which one matched.
                matched = HMAC<SHA256>.isValidAuthenticationCode(candidate, authenticating: body, using: key) || matched
            }
        }
        return matched ? nil : .noMatch
    }

    /// The `circleci-signature` value CircleCI sends for `body` signed with `secret`: for tests,
    /// and for the benchmark's pre-signed deliveries.
    public static func headerValue(for body: [UInt8], secret: String) -> String {
        "v1=" + Hex.encode(HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Array(secret.utf8))))
    }

    public func isAuthentic(body: [UInt8], headerValues: [String]) -> Bool {
        refusal(body: body, headerValues: headerValues) == nil
    }

    /// The text after each `v1=` in a header value.
    static func v1Entries(in header: String) -> [Substring] {
        header.split(separator: ",").compactMap { entry in
            let trimmed = entry.trimmingSpaces
            return trimmed.hasPrefix("v1=") ? trimmed.dropFirst(3) : nil
        }
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var result = self
        while let first = result.first, first == " " || first == "\t" { result.removeFirst() }
        while let last = result.last, last == " " || last == "\t" { result.removeLast() }
        return result
    }
}
