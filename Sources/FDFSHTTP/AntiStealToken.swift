import Crypto
import Foundation

/// The FastDFS anti-steal token (cluster spec §9.1): lowercase hex MD5 of
/// `file_id + secret_key + decimal(ts)`, sent as `token=` and `ts=` in the query.
public struct AntiStealToken: Sendable, Hashable {
    public var secretKey: String
    /// `http.anti_steal.token_ttl`: a token older than this many seconds has expired; a `ts`
    /// of 0 never expires (as in C).
    public var ttlSeconds: Int64

    public init(secretKey: String, ttlSeconds: Int64) {
        self.secretKey = secretKey
        self.ttlSeconds = ttlSeconds
    }

    /// The token of `fileID` at `timestamp`, as the FastDFS client libraries make it.
    public static func make(fileID: String, secretKey: String, timestamp: Int64) -> String {
        let digest = Insecure.MD5.hash(data: Array((fileID + secretKey + String(timestamp)).utf8))
        return digest.map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    /// Why a request's token is refused, or nil when it passes. Both subjects FastDFS uses
    /// are accepted: the file id with its group (the client libraries' test programs) and
    /// without (the nginx module).
    public func refusal(token: String?, timestamp: String?, fileIDWithGroup: String, fileIDWithoutGroup: String, now: Int64) -> String? {
        guard let token, let timestamp else { return "token and ts are required" }
        guard token.utf8.count == 32 else { return "the token must be 32 hex characters" }
        guard let ts = Int64(timestamp) else { return "ts is not a number" }
        if ts != 0 && now - ts > ttlSeconds { return "the token expired \(now - ts - ttlSeconds) s ago" }
        let given = token.lowercased()
        for subject in [fileIDWithoutGroup, fileIDWithGroup]
        where Self.make(fileID: subject, secretKey: secretKey, timestamp: ts) == given {
            return nil
        }
        return "the token does not match"
    }
}
