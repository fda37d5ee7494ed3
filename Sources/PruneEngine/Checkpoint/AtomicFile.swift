import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Replaces the file at `path` with `bytes` so that readers, and the disk after a crash, see
/// either the old file or the complete new one.
///
/// The bytes go to a hidden temporary file in the same folder (`.name.tmp-<pid>-<random>`),
/// which is flushed to disk (`fsync`) and renamed over `path`; the folder is then flushed too
/// (best effort) so that the rename itself is durable. On any failure the temporary file is
/// removed and the previous file at `path` is left as it was. The new file gets mode 0644 less
/// the umask; a symbolic link at `path` is replaced, not followed. A folder, FIFO, device or
/// socket at `path` is refused (`replacementProblem(at:)`): replacing `/dev/null` or a pipe a
/// reader waits on with a regular file is never what was meant.
/// - Parameters:
///   - bytes: the complete new content (`Data` or `[UInt8]`).
///   - path: the file to create or replace.
/// - Throws: `ShearsError` naming `path` and the system's reason.
public func writeAtomically(_ bytes: some ContiguousBytes, to path: String) throws {
  let (folder, name) = splitPath(path)
  guard !name.isEmpty, name != ".", name != ".." else { throw ShearsError(path, "not a file name") }
  if let problem = replacementProblem(at: path) { throw ShearsError(path, problem) }
  let temporary = "\(folder)/.\(name).tmp-\(getpid())-\(String(UInt32.random(in: .min ... .max), radix: 16))"
  let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
  guard descriptor >= 0 else {
    throw ShearsError(path, "cannot create a temporary file next to it: \(systemErrorDescription(errno))")
  }
  var failure = bytes.withUnsafeBytes { writeAll($0, to: descriptor) }.map { (action: "cannot write", code: $0) }
  if failure == nil, fsync(descriptor) != 0 { failure = ("cannot flush to disk", errno) }
  if close(descriptor) != 0, failure == nil { failure = ("cannot write", errno) }
  if failure == nil, rename(temporary, path) != 0 { failure = ("cannot replace", errno) }
  if let failure {
    unlink(temporary)
    throw ShearsError(path, "\(failure.action): \(systemErrorDescription(failure.code))")
  }
  let folderDescriptor = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
  if folderDescriptor >= 0 {
    _ = fsync(folderDescriptor)
    close(folderDescriptor)
  }
}

/// Why `writeAtomically(_:to:)` refuses to replace what is at `path` ("is a FIFO, not a regular
/// file"), or nil when nothing is there, or a regular file, or a symbolic link to anything but a
/// folder (the link itself is replaced; what it points to is left alone).
public func replacementProblem(at path: String) -> String? {
  var status = stat()
  guard lstat(path, &status) == 0 else { return nil }
  if status.st_mode & S_IFMT == S_IFLNK {
    var target = stat()
    return stat(path, &target) == 0 && target.st_mode & S_IFMT == S_IFDIR ? "is a folder, not a file" : nil
  }
  switch status.st_mode & S_IFMT {
  case S_IFREG: return nil
  case S_IFDIR: return "is a folder, not a file"
  case S_IFIFO: return "is a FIFO, not a regular file"
  case S_IFCHR, S_IFBLK: return "is a device, not a regular file"
  case S_IFSOCK: return "is a socket, not a regular file"
  default: return "is not a regular file"
  }
}

/// Writes every byte to a file descriptor, retrying short writes and interruptions; shared by
/// checkpoint files and the command line's standard streams.
/// - Returns: the `errno` of a failed write, or nil when all bytes were written.
public func writeAll(_ buffer: UnsafeRawBufferPointer, to descriptor: Int32) -> Int32? {
  guard let base = buffer.baseAddress else { return nil }
  var written = 0
  while written < buffer.count {
    let result = write(descriptor, base + written, buffer.count - written)
    if result < 0 {
      if errno == EINTR { continue }
      return errno
    }
    written += result
  }
  return nil
}

/// The folder part (`.` when there is none) and the last component of a path.
private func splitPath(_ path: String) -> (folder: String, name: String) {
  guard let slash = path.lastIndex(of: "/") else { return (".", path) }
  let folder = path[..<slash]
  return (folder.isEmpty ? "/" : String(folder), String(path[path.index(after: slash)...]))
}

/// The C library's message for an `errno` value ("No such file or directory").
public func systemErrorDescription(_ code: Int32) -> String {
  String(cString: strerror(code))
}
