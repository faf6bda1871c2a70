/// FastDFS's base64 variant (protocol spec §6.3): RFC 4648 bit order with `-` and `_` as
/// the last two characters and `.` as the padding character. File names use it without
/// padding, and so do store-path marks (`.fastdfs_vars`); IPv6 short codes use padding.
public enum FDFSBase64 {
    public static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    public static let padding = UInt8(ascii: ".")

    /// 255 marks a byte outside the alphabet.
    static let decodeTable: [UInt8] = {
        var t = [UInt8](repeating: 255, count: 256)
        for (i, c) in alphabet.enumerated() { t[Int(c)] = UInt8(i) }
        return t
    }()

    public static func isAlphabetCharacter(_ b: UInt8) -> Bool { decodeTable[Int(b)] != 255 }

    /// Encodes bytes; with `padded` the output length is a multiple of 4 (filled with `.`).
    public static func encode<C: Collection>(_ bytes: C, padded: Bool = false) -> String where C.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var it = bytes.makeIterator()
        while let b0 = it.next() {
            let b1 = it.next(), b2 = it.next()
            out.append(alphabet[Int(b0 >> 2)])
            out.append(alphabet[Int(((b0 & 0x03) << 4) | ((b1 ?? 0) >> 4))])
            if let b1 {
                out.append(alphabet[Int(((b1 & 0x0F) << 2) | ((b2 ?? 0) >> 6))])
            } else if padded {
                out.append(padding)
            }
            if let b2 {
                out.append(alphabet[Int(b2 & 0x3F)])
            } else if padded {
                out.append(padding)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    public enum DecodeError: Error, Hashable, Sendable, CustomStringConvertible {
        /// A character outside `A-Z a-z 0-9 - _` at this 0-based position.
        case invalidCharacter(position: Int, character: UInt8)
        /// A length of 1 modulo 4 cannot come from any byte string.
        case invalidLength(Int)

        public var description: String {
            switch self {
            case .invalidCharacter(let p, let c):
                "character '\(Character(Unicode.Scalar(c)))' at position \(p) is not in the FastDFS base64 alphabet (A-Z a-z 0-9 - _)"
            case .invalidLength(let n): "\(n) base64 characters cannot encode whole bytes"
            }
        }
    }

    /// Strict decoding: unlike the C decoder, which skips unknown characters, any character
    /// outside the alphabet is an error. Trailing `.` padding is accepted.
    public static func decode<C: Collection>(_ text: C) throws(DecodeError) -> [UInt8] where C.Element == UInt8 {
        var chars = Array(text)
        while chars.last == padding { chars.removeLast() }
        guard chars.count % 4 != 1 else { throw .invalidLength(chars.count) }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count * 3 / 4)
        var acc: UInt32 = 0, bits = 0
        for (i, c) in chars.enumerated() {
            let v = decodeTable[Int(c)]
            guard v != 255 else { throw .invalidCharacter(position: i, character: c) }
            acc = (acc << 6) | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8((acc >> UInt32(bits)) & 0xFF))
            }
        }
        return out
    }

    public static func decode(_ text: String) throws(DecodeError) -> [UInt8] { try decode(Array(text.utf8)) }
}
