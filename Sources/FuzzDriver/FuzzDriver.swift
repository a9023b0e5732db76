import Foundation

/// What the fuzz targets (`jose-fuzz`, `fastcgi-fuzz`) share: libFuzzer's driver around a check of one input, and the
/// replayer of saved inputs that a normal build runs instead (see `scripts/fuzz`).
public enum FuzzDriver {
    /// Runs the check on each file named on the command line (a crash libFuzzer saved, say).
    public static func replay(_ check: ([UInt8]) -> Void) throws {
        let files = CommandLine.arguments.dropFirst()
        for file in files {
            check(Array(try Data(contentsOf: URL(fileURLWithPath: file))))
        }
        print("replayed \(files.count) inputs without a failure")
    }

    #if FUZZING
    /// The check libFuzzer's callback runs (a C callback cannot capture it).
    nonisolated(unsafe) private static var check: (([UInt8]) -> Void)?

    /// libFuzzer's own loop (LLVM 11+), called from each target's entry point: SwiftPM links an executable's `main`
    /// to `<module>_main`, so libFuzzer's `main` cannot be used directly.
    public static func run(
        _ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, check: @escaping ([UInt8]) -> Void
    ) -> CInt {
        Self.check = check
        var count = argc
        var arguments = argv
        return llvmFuzzerRunDriver(&count, &arguments) { data, size in
            FuzzDriver.check?(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
            return 0
        }
    }
    #endif
}

#if FUZZING
@_silgen_name("LLVMFuzzerRunDriver")
private func llvmFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt
#endif
