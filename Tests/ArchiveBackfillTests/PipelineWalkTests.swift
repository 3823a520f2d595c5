import ArchiveModel
import ArchiveStore
import Testing

@testable import ArchiveBackfill

/// The walk's rules without HTTP; the paths the fake-API tests do not reach.
@Suite struct PipelineWalkTests {
    static func at(_ hour: Int) -> Timestamp { Timestamp(microseconds: Int64(hour) * 3_600_000_000) }

    static func pipelines(_ hours: [Int]) -> [PipelineRecord] {
        hours.map {
            APIRecords.pipeline(try! JSONValue(parsing: Array(#"{"id":"p\#($0)","created_at":"\#(at($0).iso8601)"}"#.utf8)), projectID: "r")!
        }
    }

    @Test func aCoveredRangeOlderThanSinceIsReplaced() {
        let earlier = BackfillProgress(projectSlug: "gh/a/b", branch: "", coveredFrom: Self.at(1), coveredTo: Self.at(3), pageToken: "t")
        var walk = PipelineWalk(projectSlug: "gh/a/b", branch: "", since: Self.at(8), earlier: earlier)
        let (selected, progress) = walk.take(Self.pipelines([10, 9, 7]), next: "n", fetchedAt: Self.at(11))
        #expect(selected.map(\.id) == ["p10", "p9"])
        #expect(walk.isDone)
        #expect(progress == BackfillProgress(projectSlug: "gh/a/b", branch: "", coveredFrom: Self.at(8), coveredTo: Self.at(10), pageToken: nil))
    }

    @Test func pagesAboveAnEarlierRangeRecordNothingUntilTheyReachIt() {
        let earlier = BackfillProgress(projectSlug: "gh/a/b", branch: "", coveredFrom: nil, coveredTo: Self.at(5), pageToken: nil)
        var walk = PipelineWalk(projectSlug: "gh/a/b", branch: "", since: Self.at(0), earlier: earlier)
        let first = walk.take(Self.pipelines([9, 8]), next: "page-2", fetchedAt: Self.at(10))
        #expect(first.selected.count == 2 && first.progress == nil && !walk.isDone && walk.pageToken == "page-2")
        let second = walk.take(Self.pipelines([7, 5, 4]), next: "page-3", fetchedAt: Self.at(10))
        #expect(second.selected.map(\.id) == ["p7"] && walk.isDone)
        // The earlier range went down to the first pipeline: the joined range does too.
        #expect(second.progress == BackfillProgress(projectSlug: "gh/a/b", branch: "", coveredFrom: nil, coveredTo: Self.at(9), pageToken: nil))
    }

    @Test func aFirstWalkRecordsEachPageAndEndsAtTheFirstPipeline() {
        var walk = PipelineWalk(projectSlug: "gh/a/b", branch: "main", since: Self.at(0), earlier: nil)
        let first = walk.take(Self.pipelines([6, 5]), next: "page-2", fetchedAt: Self.at(7))
        #expect(
            first.progress
                == BackfillProgress(projectSlug: "gh/a/b", branch: "main", coveredFrom: Self.at(5), coveredTo: Self.at(6), pageToken: "page-2")
        )
        let last = walk.take(Self.pipelines([4]), next: nil, fetchedAt: Self.at(7))
        #expect(last.progress == BackfillProgress(projectSlug: "gh/a/b", branch: "main", coveredFrom: nil, coveredTo: Self.at(6), pageToken: nil))
        #expect(walk.isDone)
    }
}
