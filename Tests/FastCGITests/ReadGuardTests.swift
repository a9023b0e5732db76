import CFastCGIReadGuard
import FastCGI
import Testing

/// The read guard under libfcgi (`OS_Read`): it follows the records as libfcgi consumes them, however the bytes are
/// split across reads, and refuses a read that carries a name or value length libfcgi's allocation would fail on.
@Suite(.serialized) struct ReadGuardTests {
    static let fd: Int32 = 1_000_000  // no real descriptor: only the guard's bookkeeping is exercised

    func record(_ type: UInt8, _ id: UInt16, _ content: [UInt8] = [], padding: UInt8? = nil) -> [UInt8] {
        let pad = padding ?? UInt8((8 - content.count % 8) % 8)
        return [1, type, UInt8(id >> 8), UInt8(id & 0xFF), UInt8(content.count >> 8), UInt8(content.count & 0xFF), pad, 0]
            + content + [UInt8](repeating: 0, count: Int(pad))
    }

    func pair(_ name: String, _ value: String) -> [UInt8] {
        [UInt8(name.utf8.count), UInt8(value.utf8.count)] + Array(name.utf8) + Array(value.utf8)
    }

    /// A huge four-byte name length and value length, as the fuzzer's crashing input had.
    let hugePair: [UInt8] = [0xD5, 0xD5, 0xD7, 0xD5, 0xD5, 0x2F, 0x61, 0x75]

    /// Feeds `bytes` in pieces of `step` bytes; returns the index of the piece refused, or nil.
    func feed(_ bytes: [UInt8], step: Int, requestID: Int32 = 0) -> Int? {
        CFastCGIReadGuard_begin(Self.fd, requestID)
        var piece = 0
        for start in stride(from: 0, to: bytes.count, by: step) {
            let chunk = Array(bytes[start..<min(start + step, bytes.count)])
            if CFastCGIReadGuard_feed(Self.fd, chunk, chunk.count) != 0 { return piece }
            piece += 1
        }
        return nil
    }

    var request: [UInt8] {
        record(1, 1, [0, 1, 1, 0, 0, 0, 0, 0]) + record(4, 1, pair("REQUEST_METHOD", "POST") + pair("DOCUMENT_URI", "/x"))
            + record(4, 1) + record(5, 1, Array("{\"a\":1}".utf8)) + record(5, 1)
    }

    @Test func libfcgiBindsToThisProgramsRead() {
        #expect(Server.readGuardIsActive)
    }

    @Test(arguments: [1, 3, 7, 8, 1000])
    func aWellFormedRequestPassesHoweverItIsSplit(step: Int) {
        #expect(feed(request, step: step) == nil)
        #expect(feed(record(9, 0, pair("FCGI_MAX_CONNS", "")) + request, step: step) == nil, "small GET_VALUES pairs")
    }

    @Test(arguments: [1, 5, 1000])
    func aHugeLengthInGetValuesIsRefusedWheneverItComes(step: Int) {
        let before = record(1, 1, [0, 1, 1, 0, 0, 0, 0, 0]) + record(4, 1, pair("A", "b")) + record(4, 1)
        // Before the request, after the parameters, and in the middle of the body.
        #expect(feed(record(9, 0, hugePair) + before, step: step) != nil)
        #expect(feed(before + record(9, 0, hugePair), step: step) != nil)
        #expect(feed(before + record(5, 1, [1, 2, 3]) + record(9, 0, hugePair) + record(5, 1), step: step) != nil)
        // In the parameters, and in an unknown management record's content, which libfcgi reads as parameters.
        #expect(feed(record(1, 1, [0, 1, 1, 0, 0, 0, 0, 0]) + record(4, 1, hugePair), step: step) != nil)
        #expect(feed(record(1, 1, [0, 1, 1, 0, 0, 0, 0, 0]) + record(42, 0, hugePair), step: step) != nil)
        // The same bytes as the body of the request, or in another request's records, are only data.
        #expect(feed(before + record(5, 1, hugePair) + record(5, 1), step: step) == nil)
        #expect(feed(before + record(4, 7, hugePair) + record(5, 1), step: step) == nil)
    }

    /// libfcgi re-types its reader after BEGIN_REQUEST's body and after the parameters' end, which drops those
    /// records' padding: the padding is read as the next record. The guard follows it there.
    @Test func paddingLibfcgiDropsIsReadAsRecords() {
        let hidden = record(9, 0, hugePair)
        let begin = [1, 1, 0, 1, 0, 8, UInt8(hidden.count), 0, 0, 1, 1, 0, 0, 0, 0, 0] + hidden
        #expect(feed(begin, step: 1) != nil)
        let params = record(1, 1, [0, 1, 1, 0, 0, 0, 0, 0]) + [1, 4, 0, 1, 0, 0, UInt8(hidden.count), 0] + hidden
        #expect(feed(params, step: 4) != nil)
        // A skipped record's padding is skipped, as libfcgi skips it.
        #expect(feed(record(1, 1, [0, 1, 1, 0, 0, 0, 0, 0]) + record(4, 9, [7, 7], padding: 6) + record(4, 1), step: 3) == nil)
        // A skipped record without content leaves libfcgi's skip flag set for the next record (whatever it is): the
        // guard does not follow that, and refuses it (no web server sends one).
        #expect(feed(record(1, 1, [0, 1, 1, 0, 0, 0, 0, 0]) + record(4, 9, [], padding: 8) + record(4, 1), step: 3) != nil)
        #expect(feed(record(0, 2113, []) + record(0, 0, [1], padding: 4) + record(9, 0, []) + record(9, 0, hugePair), step: 5) != nil)
    }

    /// libfcgi's errors close its reader but do not stop its parsing: an error in the parameters (a header of another
    /// version, a record of the wrong type) ends them, and what follows is read as stdin's records.
    @Test func parsingGoesOnAfterAnErrorInTheParameters() {
        let begin = record(1, 1, [0, 1, 1, 0, 0, 0, 0, 0]) + record(4, 1, pair("A", "b"))
        let otherVersion: [UInt8] = [0x11, 4, 1, 1, 0, 0, 0, 0x14]
        #expect(feed(begin + otherVersion + record(9, 0, hugePair), step: 1) != nil)
        #expect(feed(begin + record(5, 1, [1, 2]) + record(9, 0, hugePair), step: 3) != nil)
        #expect(feed(begin + otherVersion + record(5, 1, [1, 2]) + record(5, 1), step: 2) == nil)
        // An error in the middle of a pair fails the request instead: nothing more is read.
        let midPair = record(1, 1, [0, 1, 1, 0, 0, 0, 0, 0]) + record(4, 1, [1])
        #expect(feed(midPair + otherVersion + record(9, 0, hugePair), step: 1) == nil)
    }

    @Test func otherDescriptorsAreNotFollowed() {
        CFastCGIReadGuard_begin(Self.fd, 0)
        let bad = record(9, 0, hugePair)
        #expect(CFastCGIReadGuard_feed(Self.fd + 1, bad, bad.count) == 0)
    }
}
