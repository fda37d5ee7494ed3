#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Opens a regular file for reading; the caller closes the descriptor.
///
/// Anything a user points Shears at may be a FIFO, a device or a folder, which could block the
/// open itself (a FIFO without a writer) or a read forever. The file is opened without blocking,
/// checked on the descriptor (so it cannot be swapped between a check and the open), and only
/// then switched to blocking reads.
/// - Throws: `ShearsError` naming `path`: it cannot be opened, or is a folder, pipe or device.
func openRegularFile(at path: String) throws -> (descriptor: Int32, size: Int) {
  let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
  guard descriptor >= 0 else { throw ShearsError(path, "cannot open: \(systemErrorDescription(errno))") }
  var status = stat()
  guard fstat(descriptor, &status) == 0 else {
    let code = errno
    close(descriptor)
    throw ShearsError(path, "cannot read: \(systemErrorDescription(code))")
  }
  guard status.st_mode & S_IFMT == S_IFREG else {
    close(descriptor)
    throw ShearsError(path, "not a regular file")
  }
  let flags = fcntl(descriptor, F_GETFL)
  guard flags >= 0, fcntl(descriptor, F_SETFL, flags & ~O_NONBLOCK) == 0 else {
    let code = errno
    close(descriptor)
    throw ShearsError(path, "cannot read: \(systemErrorDescription(code))")
  }
  return (descriptor, Int(status.st_size))
}

/// The whole content of a regular file (not a folder, pipe or device, which could block or never end).
/// - Throws: `ShearsError` naming `path` and the system's reason.
func readRegularFile(at path: String) throws -> [UInt8] {
  let descriptor = try openRegularFile(at: path)
  defer { close(descriptor.descriptor) }
  var bytes = [UInt8](repeating: 0, count: descriptor.size)
  var count = 0
  while count < bytes.count {
    let result = bytes.withUnsafeMutableBytes { buffer in
      buffer.baseAddress.map { read(descriptor.descriptor, $0 + count, buffer.count - count) } ?? 0
    }
    if result == 0 { break }  // the file shrank while being read
    if result < 0 {
      if errno == EINTR { continue }
      throw ShearsError(path, "cannot read: \(systemErrorDescription(errno))")
    }
    count += result
  }
  return Array(bytes[..<count])
}
