import ArchiveStore

extension ArchiveReader {
    /// Each row of `sql` as its values joined by `|` (NULL as `NULL`), for compact expectations.
    public func texts(_ sql: String) throws -> [String] {
        var collector = RowCollector()
        try query(sql, into: &collector)
        return collector.rows.map { row in
            row.map { value -> String in
                switch value {
                case .text(let text): text
                case .integer(let integer): String(integer)
                case .real(let real): String(real)
                case .null: "NULL"
                case .blob(let bytes): "\(bytes.count) bytes"
                }
            }.joined(separator: "|")
        }
    }
}
