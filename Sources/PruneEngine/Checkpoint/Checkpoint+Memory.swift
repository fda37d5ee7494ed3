extension Checkpoint {
  /// Bytes that loading the model in `file` needs, from its header alone: the copy of every
  /// tensor's bytes that `MappedSafetensorsFile.loadFile` makes, plus the model's parameters
  /// and byte masks, counted for the larger of the tensors' element count and the parameter
  /// count its `arch` metadata declares (a compact file expands to more than it stores).
  public static func loadingMemory(of file: MappedSafetensorsFile) -> Int {
    let storedBytes = file.tensors.reduce(0) { $0.addingSaturating($1.byteCount) }
    let bytesPerParameter = MemoryLayout<Float>.size + MemoryLayout<UInt8>.size
    return storedBytes.addingSaturating(parameterCount(of: file).multipliedSaturating(by: bytesPerParameter))
  }

  /// The number of parameters the model in `file` has at most, from its header: its tensors'
  /// elements, or the parameters its `arch` metadata declares when that is more.
  public static func parameterCount(of file: MappedSafetensorsFile) -> Int {
    let elements = file.tensors.reduce(0) { $0.addingSaturating($1.elementCount) }
    let declared = file.metadata["arch"].flatMap { try? Architecture(parsing: $0) }?.parameterCount ?? 0
    return max(elements, declared)
  }
}
