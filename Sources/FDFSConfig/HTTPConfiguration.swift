/// http.conf (cluster spec §8.6): the settings of the HTTP download gateway, normally included
/// from the gateway's own configuration with `#include http.conf`.
public struct HTTPConfiguration: ConfigurationFile, Hashable {
    public var path: String
    /// `http.disabled`: no HTTP service at all; nothing else is required then.
    public var isDisabled = false
    public var serverPort = 80
    /// `http.need_find_content_type`: derive Content-Type from the file extension.
    public var needFindContentType = true
    /// `http.multi_range.enabled`: accept multi-range requests.
    public var multiRangeEnabled = true
    /// `http.mime_types_filename` (mime.types format), resolved against the directory of the
    /// file that sets it.
    public var mimeTypesPath: String?
    /// `http.default_content_type`, e.g. `application/octet-stream`.
    public var defaultContentType: String?
    public var antiSteal = AntiStealSettings()
    /// Unknown keys; the gateway should log them.
    public var warnings: [ConfigWarning] = []

    /// Every key this file may contain (also accepted in client.conf, which may include it).
    static let keys = [
        "http.disabled", "http.server_port", "http.need_find_content_type", "http.multi_range.enabled",
        "http.mime_types_filename", "http.default_content_type", "http.anti_steal.check_token",
        "http.anti_steal.token_ttl", "http.anti_steal.secret_key", "http.anti_steal.token_check_fail",
    ]

    /// True when the MIME table and default content type are needed.
    public var needsMIMETypes: Bool {
        !isDisabled && (needFindContentType || multiRangeEnabled || antiSteal.checkToken)
    }


    public init(document: ConfigDocument) throws(ConfigError) {
        var r = ConfigReader(document)
        path = document.path
        isDisabled = try r.bool("http.disabled", default: false)
        serverPort = try r.int("http.server_port", default: 80, in: 1...65535)
        needFindContentType = try r.bool("http.need_find_content_type", default: true)
        multiRangeEnabled = try r.bool("http.multi_range.enabled", default: true)
        mimeTypesPath = r.path("http.mime_types_filename", relativeToConfig: true)
        defaultContentType = r.string("http.default_content_type")
        antiSteal = try AntiStealSettings.read(&r)
        if needsMIMETypes {
            let reason = "required when HTTP is enabled with content-type lookup, multi-range requests or token checking"
            if mimeTypesPath == nil { throw r.missing("http.mime_types_filename", reason) }
            if defaultContentType == nil { throw r.missing("http.default_content_type", reason) }
        }
        warnings = r.finish()
    }
}
