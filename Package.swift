// swift-tools-version: 6.0
import PackageDescription

// The engine's numeric kernels use SIMD16<Float> with fused multiply-add. Without a target CPU
// that has FMA and wide vectors, the compiler lowers them to library calls or narrow registers
// (measured: 0.8 GFLOP/s instead of ~110 for the same micro-kernel). Shears is built from source
// on the machine that runs it, so x86-64 builds target the host CPU; set SHEARS_TARGET_CPU
// (for example `x86-64-v3`) to build for another machine. Other architectures keep the
// compiler's default, which already has FMA on arm64.
//
// The GEMM's 10x32 tile fills AVX-512's 32 vector registers; with 16 (AVX2) the same tile
// spills and runs at a third of the speed, so such builds compute it in 5x16 pieces. The
// condition AVX512 tells the engine which build it is.
#if arch(x86_64)
import Foundation

let targetCPU = Context.environment["SHEARS_TARGET_CPU"] ?? "native"
let avx512CPUs: Set<String> = [
  "x86-64-v4", "skylake-avx512", "cascadelake", "cooperlake", "cannonlake", "icelake-client", "icelake-server",
  "tigerlake", "rocketlake", "sapphirerapids", "emeraldrapids", "graniterapids", "znver4", "znver5",
]
let targetHasAVX512 =
  targetCPU == "native"
  ? ((try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?.contains(" avx512f") ?? false)
  : avx512CPUs.contains(targetCPU)
let engineSettings: [SwiftSetting] =
  [.unsafeFlags(["-target-cpu", targetCPU])] + (targetHasAVX512 ? [.define("AVX512")] : [])
#else
let engineSettings: [SwiftSetting] = []
#endif

let package = Package(
  name: "shears",
  platforms: [.macOS(.v15)],
  products: [
    .executable(name: "shears", targets: ["shears"]),
    .library(name: "PruneEngine", targets: ["PruneEngine"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
  ],
  targets: [
    // Named apart from ZIPFoundation's own zlib module map, which declares `module CZlib`: two
    // module maps of one name in a build are a redefinition error.
    .systemLibrary(name: "CShearsZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
    // ncursesw's pkg-config file adds -D flags SwiftPM rejects; the header path is fixed on Debian.
    .systemLibrary(name: "CNcurses"),
    .target(
      name: "PruneEngine", dependencies: ["CShearsZlib", .product(name: "ZIPFoundation", package: "ZIPFoundation")],
      swiftSettings: engineSettings),
    .target(name: "ExplorerCore", dependencies: ["PruneEngine"]),
    .target(name: "CursesShell", dependencies: ["CNcurses", "ExplorerCore"]),
    .executableTarget(
      name: "shears",
      dependencies: [
        "PruneEngine", "ExplorerCore", "CursesShell",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      swiftSettings: engineSettings),
    // Mutated checkpoints shared by the fuzz tests of the engine and of the explorer.
    .target(name: "CheckpointCorpus", dependencies: ["PruneEngine"], path: "Tests/CheckpointCorpus"),
    // .npz archives written in code, for the data tests of the engine and of the command line.
    .target(
      name: "NPZFixture", dependencies: [.product(name: "ZIPFoundation", package: "ZIPFoundation")],
      path: "Tests/NPZFixture"),
    .testTarget(name: "PruneEngineTests", dependencies: ["PruneEngine", "CheckpointCorpus", "NPZFixture"]),
    .testTarget(name: "ExplorerCoreTests", dependencies: ["ExplorerCore", "CheckpointCorpus"]),
    .testTarget(name: "ShearsCLITests", dependencies: ["shears", "PruneEngine", "NPZFixture"]),
  ]
)
