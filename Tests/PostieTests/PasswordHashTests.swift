@testable import Postie
import Testing

@Suite struct PasswordHashTests {
    @Test func roundTripAndVerify() throws {
        let hash = try PasswordHash.make(password: Array("correct horse".utf8), logRounds: 4)
        let text = hash.description
        #expect(text.hasPrefix("$scrypt$ln=4,r=8,p=1$"))
        let parsed = try PasswordHash(text)
        #expect(parsed == hash)
        #expect(parsed.verify(Array("correct horse".utf8)))
        #expect(!parsed.verify(Array("correct horse ".utf8)))
        #expect(!parsed.verify([]))
    }

    @Test func saltsDiffer() throws {
        let a = try PasswordHash.make(password: Array("same".utf8), logRounds: 4)
        let b = try PasswordHash.make(password: Array("same".utf8), logRounds: 4)
        #expect(a.salt != b.salt)
        #expect(a.hash != b.hash)
    }

    /// RFC 7914 §12's second test vector: scrypt("password", "NaCl", N=1024, r=8, p=16), 64 octets.
    @Test func knownAnswer() throws {
        let hash = try PasswordHash(
            "$scrypt$ln=10,r=8,p=16$TmFDbA$/bq+HJ00cgB4VucZDQHp/nxq18vII3gw53N2Y0s3MWIurzDZLiKjiG/xCSedmDDaxyevuUqD7m2DYMvfoswGQA")
        #expect(hash.verify(Array("password".utf8)))
        #expect(!hash.verify(Array("Password".utf8)))
    }

    @Test(arguments: [
        "secret", "$scrypt$ln=4,r=8$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAA", "$bcrypt$ln=4,r=8,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAA",
        "$scrypt$ln=40,r=8,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAA", "$scrypt$ln=4,r=8,p=1$!!$AAAAAAAAAAAAAAAAAAAAAAA",
    ])
    func malformedHashesAreRejected(text: String) {
        #expect(throws: PasswordHash.ParseError.self) { try PasswordHash(text) }
    }
}

@Suite struct DecoyHashTests {
    @Test func decoyCostsWhatTheModelCostsAndMatchesNothing() throws {
        let model = try PasswordHash.make(password: Array("pw".utf8), logRounds: 5)
        let decoy = PasswordHash.decoy(like: model)
        #expect(decoy.logRounds == 5 && decoy.blockSize == model.blockSize && decoy.parallelism == model.parallelism)
        #expect(decoy.hash.count == model.hash.count)
        #expect(decoy.salt != model.salt)
        #expect(!decoy.verify(Array("pw".utf8)))
        #expect(PasswordHash.decoy(like: nil).logRounds == 1)
    }
}
