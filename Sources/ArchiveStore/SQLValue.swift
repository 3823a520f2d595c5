import ArchiveModel
import Foundation

/// A value as SQLite stores it, in its five storage classes: what the write path binds and what
/// readers return.
public enum SQLValue: Sendable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])

    init(_ text: String?) {
        self = text.map { .text($0) } ?? .null
    }

    init(_ integer: Int64?) {
        self = integer.map { .integer($0) } ?? .null
    }

    /// Timestamps are stored as ISO 8601 text with milliseconds, so they sort as text.
    init(_ time: Timestamp?) {
        self = time.map { .text($0.iso8601) } ?? .null
    }

    /// The text, when the value is text.
    public var text: String? {
        if case .text(let text) = self { text } else { nil }
    }

    /// The value as a number, when it is one.
    public var number: Double? {
        switch self {
        case .integer(let value): Double(value)
        case .real(let value): value
        default: nil
        }
    }
}

/// Equal when SQLite would store the same value: text compares by its UTF-8 bytes, not by
/// Swift's Unicode equivalence (`"é"` precomposed and decomposed are two values to SQLite, and
/// two groups to `GROUP BY`).
extension SQLValue: Hashable {
    public static func == (lhs: SQLValue, rhs: SQLValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case (.integer(let left), .integer(let right)): left == right
        case (.real(let left), .real(let right)): left == right
        case (.blob(let left), .blob(let right)): left == right
        case (.text(let left), .text(let right)):
            bytesEqual(left.utf8, right.utf8)
        default: false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null:
            hasher.combine(0)
        case .integer(let integer):
            hasher.combine(1)
            hasher.combine(integer)
        case .real(let double):
            hasher.combine(2)
            hasher.combine(double)
        case .text(let text):
            // String's own hash: texts equal byte for byte are equal Strings, so they hash alike
            // (and it is the fastest hash of a String); canonically equivalent texts that differ in
            // bytes merely collide.
            hasher.combine(3)
            hasher.combine(text)
        case .blob(let bytes):
            hasher.combine(4)
            hasher.combine(bytes)
        }
    }
}

/// Byte-for-byte equality of two UTF-8 views, with `memcmp` where both are contiguous (native
/// Swift strings are).
private func bytesEqual(_ left: String.UTF8View, _ right: String.UTF8View) -> Bool {
    guard left.count == right.count else { return false }
    let compared = left.withContiguousStorageIfAvailable { left in
        right.withContiguousStorageIfAvailable { right in
            left.isEmpty || memcmp(left.baseAddress!, right.baseAddress!, left.count) == 0
        }
    }
    return (compared ?? nil) ?? left.elementsEqual(right)
}
