public import FDFSConfig
public import FDFSStorageEngine
import FDFSModel

extension StorageService {
    /// `fdfs-storaged --rebuild-catalog`: recreates `<base_path>/data/catalog.sqlite` from the
    /// store paths and the binlog (see `CatalogRebuild`). Run it with the daemon stopped.
    public static func rebuildCatalog(configuration c: StorageConfiguration) throws -> CatalogRebuild.Report {
        guard let group = c.groupName else {
            throw StorageStartupError(description: "\(c.path): group_name is required to rebuild the catalog")
        }
        let flagPath = c.basePath + "/data/.data_init_flag"
        guard let flag = try StorageInitFlag.load(path: flagPath) else {
            throw StorageStartupError(description: "\(flagPath) is missing: this storage never started, there is nothing to rebuild")
        }
        let ip = flag.lastIPAddresses.split(separator: ",").first.map(String.init) ?? flag.lastIPAddresses
        guard let ipv4 = IPv4Address(ip) else {
            throw StorageStartupError(description: "\(flagPath): last_ip_addr '\(flag.lastIPAddresses)' is not an IPv4 address")
        }
        let paths = StorePaths(paths: c.storePaths.map { StorePath(path: $0.path, isReadOnly: $0.isReadOnly) }, subdirCount: c.subdirCountPerPath)
        return try CatalogRebuild.rebuild(catalogPath: StorageStore.catalogPath(basePath: c.basePath), paths: paths, group: group,
                                          source: .ipv4(ipv4), basePath: c.basePath)
    }
}
