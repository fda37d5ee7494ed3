/// What a checkpoint records about its model besides the tensors, kept in the safetensors
/// `__metadata__` map (string to string).
///
/// Keys: `format` (always `shears-1` when written, ignored when read), `arch`, `dataset`,
/// `accuracy` (a decimal string), `created` (ISO 8601) and `history` (a JSON array of strings,
/// stored as its JSON text) and `rewind_epoch`. Absent keys read as nil or an empty history; other keys are ignored.
public struct CheckpointMetadata: Sendable, Equatable {
  /// The `--arch` value of the model (`mlp:784-300-100-10`); key `arch`.
  public var architecture: String?
  /// The data the model was trained or evaluated on; key `dataset`.
  public var dataset: String?
  /// Test accuracy from 0 to 1; key `accuracy`.
  public var accuracy: Double?
  /// When the file was made, ISO 8601; key `created`.
  public var created: String?
  /// The operations applied, oldest first (`train epochs=10 optimizer=adam lr=0.001 seed=1`);
  /// key `history`.
  public var history: [String]
  /// The epoch whose weights the file keeps for rewinding (0 = initialisation), when it keeps
  /// any; key `rewind_epoch`.
  public var rewindEpoch: Int?

  /// The value written as `format`.
  public static let formatName = "shears-1"

  public init(
    architecture: String? = nil, dataset: String? = nil, accuracy: Double? = nil, created: String? = nil,
    history: [String] = [], rewindEpoch: Int? = nil
  ) {
    self.rewindEpoch = rewindEpoch
    self.architecture = architecture
    self.dataset = dataset
    self.accuracy = accuracy
    self.created = created
    self.history = history
  }

  /// The metadata from a `__metadata__` map.
  /// - Parameter subject: the file the map came from, named in errors.
  /// - Throws: `ShearsError` if `accuracy` is not a number or `history` not a JSON array of strings.
  init(fields: [String: String], subject: String) throws {
    self.init(architecture: fields["arch"], dataset: fields["dataset"], created: fields["created"])
    if let text = fields["accuracy"] {
      guard let accuracy = Double(text) else {
        throw ShearsError(subject, "metadata accuracy '\(text)' is not a number")
      }
      self.accuracy = accuracy
    }
    if let text = fields["rewind_epoch"] {
      guard let epoch = Int(text), epoch >= 0 else {
        throw ShearsError(subject, "metadata rewind_epoch '\(text)' is not an epoch number")
      }
      rewindEpoch = epoch
    }
    if let text = fields["history"] {
      guard case .array(let items)? = try? JSONValue(parsing: Array(text.utf8), subject: subject) else {
        throw ShearsError(subject, "metadata history is not a JSON array")
      }
      history = try items.map { item in
        guard case .string(let operation) = item else {
          throw ShearsError(subject, "metadata history holds a value that is not a string")
        }
        return operation
      }
    }
  }

  /// The `__metadata__` map, with `format` and the given architecture text as `arch`.
  func fields(architecture: String) -> [String: String] {
    var fields = [
      "format": Self.formatName,
      "arch": architecture,
      "history": JSONValue.array(history.map { .string($0) }).text,
    ]
    fields["dataset"] = dataset
    fields["accuracy"] = accuracy.map { "\($0)" }
    fields["created"] = created
    fields["rewind_epoch"] = rewindEpoch.map(String.init)
    return fields
  }
}
