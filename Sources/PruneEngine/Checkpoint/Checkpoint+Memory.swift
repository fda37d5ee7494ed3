extension Checkpoint {
  /// Bytes that loading the model in `file` needs, from its header alone: the copy of every
  /// tensor's bytes that `MappedSafetensorsFile.loadFile` makes, plus the model's parameters
  /// and byte masks, counted for the larger of the tensors' element count and the parameter
  /// count its `arch` metadata declares (a compact file expands to more than it stores).
  public static func loadingMemory(of file: MappedSafetensorsFile) -> Int {
    let storedBytes = file.tensors.reduce(0) { $0.addingSaturating($1.byteCount) }
    let elements = file.tensors.reduce(0) { $0.addingSaturating($1.elementCount) }
    let declared = file.metadata["arch"].flatMap { try? Architecture(parsing: $0) }?.parameterCount ?? 0
    let bytesPerParameter = MemoryLayout<Float>.size + MemoryLayout<UInt8>.size
    return storedBytes.addingSaturating(max(elements, declared).multipliedSaturating(by: bytesPerParameter))
  }
}
