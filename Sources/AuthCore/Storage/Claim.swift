import CryptoPrimitives

/// 128 random bits a single-use write stores in the row it consumes, so that the row can tell afterwards whose write
/// the database kept (``Database/keeps(_:_:readBack:)``). Not a secret: it only tells racing writers apart.
package struct Claim: Sendable, Equatable {
    package let bytes: [UInt8]

    /// A new claim.
    package init() {
        bytes = Random.bytes(16)
    }
}
