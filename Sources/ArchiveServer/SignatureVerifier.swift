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

    /// `headerValues` holds every `circleci-signature` field of the request. A request must carry
    /// exactly one; a repeated header is refused rather than guessed at.
    public func isAuthentic(body: [UInt8], headerValues: [String]) -> Bool {
        guard headerValues.count == 1 else { return false }
        let candidates = Self.v1Signatures(in: headerValues[0])
        guard !candidates.isEmpty else { return false }
        var matched = false
        for key in keys {
            let mac = Array(HMAC<SHA256>.authenticationCode(for: body, using: key))
            for candidate in candidates {
                // Evaluate every pair, so the time taken does not depend on which one matched.
                matched = constantTimeEqual(mac, candidate) || matched
            }
        }
        return matched
    }

    /// The decoded `v1` signatures in a header value: entries that are not `v1=` followed by
    /// exactly 64 hex digits are skipped.
    static func v1Signatures(in header: String) -> [[UInt8]] {
        header.split(separator: ",").compactMap { entry in
            let trimmed = entry.trimmingSpaces
            guard trimmed.hasPrefix("v1=") else { return nil }
            return decodeHex(trimmed.dropFirst(3), expectedBytes: SHA256.byteCount)
        }
    }
}

/// Compares two byte strings in time that depends only on their lengths.
func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
    guard lhs.count == rhs.count else { return false }
    var difference: UInt8 = 0
    for index in lhs.indices {
        difference |= lhs[index] ^ rhs[index]
    }
    return difference == 0
}

private func decodeHex(_ text: Substring, expectedBytes: Int) -> [UInt8]? {
    let digits = Array(text.utf8)
    guard digits.count == expectedBytes * 2 else { return nil }
    var bytes = [UInt8]()
    bytes.reserveCapacity(expectedBytes)
    var index = 0
    while index < digits.count {
        guard let high = hexValue(digits[index]), let low = hexValue(digits[index + 1]) else { return nil }
        bytes.append(high << 4 | low)
        index += 2
    }
    return bytes
}

private func hexValue(_ digit: UInt8) -> UInt8? {
    switch digit {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return digit - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return digit - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return digit - UInt8(ascii: "A") + 10
    default: return nil
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
