/// `transform` applied to each element, at most `limit` at a time, the results in the elements'
/// order: backfill's pipelines and enrichment's jobs both ask CircleCI this way. The first error
/// cancels the others and is thrown; a `BackfillError` as it is.
func concurrentMap<Element: Sendable, Result: Sendable>(
    _ elements: [Element],
    limit: Int,
    _ transform: @escaping @Sendable (Element) async throws(BackfillError) -> Result
) async throws(BackfillError) -> [Result] {
    guard !elements.isEmpty else { return [] }
    do {
        return try await withThrowingTaskGroup(of: (Int, Result).self) { group in
            var results = [Result?](repeating: nil, count: elements.count)
            var next = 0
            func addNext() {
                guard next < elements.count else { return }
                let (index, element) = (next, elements[next])
                next += 1
                group.addTask { (index, try await transform(element)) }
            }
            for _ in 0..<max(1, limit) { addNext() }
            while let (index, result) = try await group.next() {
                results[index] = result
                addNext()
            }
            return results.compactMap { $0 }
        }
    } catch let error as BackfillError {
        throw error
    } catch {
        throw .failed(path: "", reason: "\(error)")
    }
}
