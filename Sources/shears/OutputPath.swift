import Foundation
import PruneEngine

/// Checks made on an output path before long work, so a bad `--out` fails at once.
enum OutputPath {
  /// Throws when `path` is a folder, FIFO or device, its folder is missing or read-only, or it is the
  /// checkpoint being read (`input`) and `force` is not true.
  ///
  /// - Parameter force: the command's `--force` flag, or nil when it has none (the error then
  ///   does not suggest it).
  static func checkWritable(_ path: String, input: String? = nil, force: Bool? = nil) throws {
    let url = URL(fileURLWithPath: path)
    if let input, force != true, url.standardizedFileURL.resolvingSymlinksInPath()
      == URL(fileURLWithPath: input).standardizedFileURL.resolvingSymlinksInPath()
    {
      throw ShearsError(
        path, "is the input checkpoint; write elsewhere" + (force == nil ? "" : " or pass --force to replace it"))
    }
    if let problem = replacementProblem(at: path) { throw ShearsError(path, problem) }
    var isDirectory: ObjCBool = false
    let folder = url.deletingLastPathComponent().path
    guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
      throw ShearsError(path, "folder \(folder) does not exist")
    }
    guard FileManager.default.isWritableFile(atPath: folder) else {
      throw ShearsError(path, "folder \(folder) is not writable")
    }
  }
}
