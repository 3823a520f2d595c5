/// A point in time with microsecond precision, parsed from and written as ISO 8601 / RFC 3339 text.
///
/// The archive stores every timestamp as UTC text with exactly three fractional digits
/// (`2021-09-01T22:49:34.317Z`), so stored values sort and compare correctly as text and feed
/// SQLite's date functions. Parsing keeps microseconds, which `orderingKey` uses to order events
/// that happen within the same millisecond.
public struct Timestamp: Sendable, Hashable, Comparable {
    /// Microseconds since 1970-01-01T00:00:00Z.
    public var microseconds: Int64

    public init(microseconds: Int64) {
        self.microseconds = microseconds
    }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        lhs.microseconds < rhs.microseconds
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`; `t` and a space are accepted in place of `T`,
    /// and `z` for `Z`. Fractions beyond microseconds are truncated. Returns nil for anything else,
    /// including out-of-range fields (month 13, hour 24, Feb 30).
    public init?(iso8601 text: some StringProtocol) {
        var parser = Parser(bytes: Array(text.utf8))
        guard let value = parser.parse() else { return nil }
        self.microseconds = value
    }

    /// Milliseconds-precision UTC text, the form stored in every table.
    public var iso8601: String {
        format(fractionDigits: 3)
    }

    /// Microsecond-precision UTC text; fixed width, so it orders correctly as text.
    public var iso8601Microseconds: String {
        format(fractionDigits: 6)
    }

    private func format(fractionDigits: Int) -> String {
        let (days, microsOfDay) = microseconds.floorDivided(by: 86_400_000_000)
        let (year, month, day) = civilDate(fromDays: days)
        let seconds = microsOfDay / 1_000_000
        let fraction = microsOfDay % 1_000_000
        // Written in place: this runs for every timestamp of every event archived.
        return String(unsafeUninitializedCapacity: 21 + fractionDigits) { buffer in
            var end = 0
            func digits(_ value: Int64, width: Int) {
                var rest = max(value, 0)
                for position in (end..<end + width).reversed() {
                    buffer[position] = UInt8(ascii: "0") + UInt8(rest % 10)
                    rest /= 10
                }
                end += width
            }
            func character(_ byte: Unicode.Scalar) {
                buffer[end] = UInt8(ascii: byte)
                end += 1
            }
            digits(year, width: 4)
            character("-")
            digits(month, width: 2)
            character("-")
            digits(day, width: 2)
            character("T")
            digits(seconds / 3600, width: 2)
            character(":")
            digits(seconds / 60 % 60, width: 2)
            character(":")
            digits(seconds % 60, width: 2)
            character(".")
            digits(fractionDigits == 3 ? fraction / 1000 : fraction, width: fractionDigits)
            character("Z")
            return end
        }
    }
}

extension Timestamp {
    /// This time moved forward by `duration` (back, for a negative one), to the microsecond.
    public func adding(_ duration: Duration) -> Timestamp {
        Timestamp(microseconds: microseconds + Int64(duration / .microseconds(1)))
    }
}

extension Timestamp {
    /// The current time, from the system's realtime clock.
    public static func now() -> Timestamp {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Timestamp(microseconds: Int64(spec.tv_sec) * 1_000_000 + Int64(spec.tv_nsec) / 1000)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension Int64 {
    fileprivate func floorDivided(by divisor: Int64) -> (quotient: Int64, remainder: Int64) {
        let quotient = self >= 0 ? self / divisor : (self - divisor + 1) / divisor
        return (quotient, self - quotient * divisor)
    }
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
private func days(fromCivilYear year: Int64, month: Int64, day: Int64) -> Int64 {
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yearOfEra = y - era * 400
    let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
    let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
    return era * 146_097 + dayOfEra - 719_468
}

/// The inverse of `days(fromCivilYear:month:day:)` (Hinnant's `civil_from_days`).
private func civilDate(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
    let z = days + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let dayOfEra = z - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let mp = (5 * dayOfYear + 2) / 153
    let day = dayOfYear - (153 * mp + 2) / 5 + 1
    let month = mp < 10 ? mp + 3 : mp - 9
    return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
}

private func isLeapYear(_ year: Int64) -> Bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

private struct Parser {
    let bytes: [UInt8]
    var index = 0

    mutating func parse() -> Int64? {
        guard let year = number(digits: 4), expect("-"),
            let month = number(digits: 2), expect("-"),
            let day = number(digits: 2)
        else { return nil }
        guard index < bytes.count, [UInt8(ascii: "T"), UInt8(ascii: "t"), UInt8(ascii: " ")].contains(bytes[index]) else {
            return nil
        }
        index += 1
        guard let hour = number(digits: 2), expect(":"),
            let minute = number(digits: 2), expect(":"),
            let second = number(digits: 2)
        else { return nil }

        var micros: Int64 = 0
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            var count = 0
            while index < bytes.count, let digit = digitValue(bytes[index]) {
                if count < 6 { micros = micros * 10 + digit }
                count += 1
                index += 1
            }
            guard count > 0 else { return nil }
            for _ in min(count, 6)..<6 { micros *= 10 }
        }

        guard index < bytes.count else { return nil }
        var offsetSeconds: Int64 = 0
        switch bytes[index] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            index += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            let sign: Int64 = bytes[index] == UInt8(ascii: "-") ? -1 : 1
            index += 1
            guard let offsetHours = number(digits: 2), expect(":"), let offsetMinutes = number(digits: 2),
                offsetHours < 24, offsetMinutes < 60
            else { return nil }
            offsetSeconds = sign * (offsetHours * 3600 + offsetMinutes * 60)
        default:
            return nil
        }
        guard index == bytes.count else { return nil }

        let daysInMonth: [Int64] = [31, isLeapYear(year) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard (1...12).contains(month), day >= 1, day <= daysInMonth[Int(month - 1)],
            hour < 24, minute < 60, second < 60
        else { return nil }

        let dayCount = days(fromCivilYear: year, month: month, day: day)
        let seconds = dayCount * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        return seconds * 1_000_000 + micros
    }

    private mutating func expect(_ character: Unicode.Scalar) -> Bool {
        guard index < bytes.count, bytes[index] == UInt8(ascii: character) else { return false }
        index += 1
        return true
    }

    private mutating func number(digits: Int) -> Int64? {
        guard index + digits <= bytes.count else { return nil }
        var value: Int64 = 0
        for _ in 0..<digits {
            guard let digit = digitValue(bytes[index]) else { return nil }
            value = value * 10 + digit
            index += 1
        }
        return value
    }

    private func digitValue(_ byte: UInt8) -> Int64? {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") ? Int64(byte - UInt8(ascii: "0")) : nil
    }
}

extension Timestamp {
    /// The forms of a time bound (`--since`, `--until`, the dashboard's `since` and `until`), for
    /// help and for the message about a value that is none of them.
    public static let boundForms =
        "A time ago: 30m, 24h, 7d, 12w; a date: 2024-06-01 (midnight UTC); or an instant: 2024-06-01T12:00:00Z (UTC when no offset is given)."

    /// A time bound as people write one (see `boundForms`), a time ago counted back from `now`;
    /// nil when it is none of the forms.
    public init?(bound text: String, now: Timestamp) {
        if let unit = text.last, let amount = Int64(text.dropLast()), amount >= 0 {
            let seconds: Int64? =
                switch unit {
                case "m": 60
                case "h": 3600
                case "d": 86400
                case "w": 7 * 86400
                default: nil
                }
            if let seconds {
                self.init(microseconds: now.microseconds - amount * seconds * 1_000_000)
                return
            }
        }
        let candidates = text.count == 10 ? [text + "T00:00:00Z"] : [text, text + "Z", text + ":00Z"]
        guard let time = candidates.lazy.compactMap({ Timestamp(iso8601: $0) }).first else { return nil }
        self = time
    }
}
