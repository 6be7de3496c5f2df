import MailCore
import Testing

@Suite struct DNSTextTests {
    @Test func stringsAreJoinedAndOverrunsRefused() {
        #expect(DNSText.joinedStrings([]) == [])
        #expect(DNSText.joinedStrings([0]) == [])
        #expect(DNSText.joinedStrings([2, 0x61, 0x62, 1, 0x63]) == Array("abc".utf8))
        #expect(DNSText.joinedStrings([3, 0x61, 0x62]) == nil)
        #expect(DNSText.joinedStrings([1, 0x61, 5]) == nil)
    }
}
