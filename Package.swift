// swift-tools-version: 6.2
import PackageDescription

/// Settings every Swift target shares: Swift 6 mode and the upcoming features the style guide asks for.
let commonSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

/// Targets above the C wrappers hold no unsafe code; strict memory safety keeps it that way.
let safeSettings: [SwiftSetting] = commonSettings + [.strictMemorySafety()]

let package = Package(
    name: "jwt-authd",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "jwt-authd", targets: ["jwt-authd"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // MARK: C libraries from Debian (module maps + shim headers)
        .systemLibrary(name: "CFastCGI", pkgConfig: "fcgi", providers: [.apt(["libfcgi-dev"])]),
        .systemLibrary(name: "CMariaDB", pkgConfig: "libmariadb", providers: [.apt(["libmariadb-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CArgon2", pkgConfig: "libargon2", providers: [.apt(["libargon2-dev"])]),
        .systemLibrary(name: "CCrypt", pkgConfig: "libcrypt", providers: [.apt(["libcrypt-dev"])]),
        .systemLibrary(name: "CQRencode", pkgConfig: "libqrencode", providers: [.apt(["libqrencode-dev"])]),
        .systemLibrary(name: "CCbor", pkgConfig: "libcbor", providers: [.apt(["libcbor-dev"])]),
        .systemLibrary(name: "CProcess"),
        // libfcgi's reads pass through this target's OS_Read (see its header): C, since it must be a C symbol.
        .target(name: "CFastCGIReadGuard", swiftSettings: safeSettings),
        // libcurl (libcurl4-openssl-dev's headers) loaded with dlopen by the mail sender only: see its header.
        .target(name: "CCurl", swiftSettings: safeSettings),

        // MARK: Swift faces of the C libraries (the only importers of their C module)
        .target(
            name: "FastCGI",
            dependencies: ["CFastCGI", "CFastCGIReadGuard", "ProcessManager", .product(name: "Logging", package: "swift-log")],
            swiftSettings: commonSettings
        ),
        .target(
            name: "MariaDB",
            dependencies: ["CMariaDB"],
            swiftSettings: commonSettings
        ),
        .target(
            name: "CryptoPrimitives",
            dependencies: ["COpenSSL"],
            swiftSettings: commonSettings
        ),
        .target(
            name: "SMTP",
            dependencies: ["CCurl"],
            swiftSettings: commonSettings
        ),
        .target(
            name: "QRCode",
            dependencies: ["CQRencode"],
            swiftSettings: commonSettings
        ),
        .target(
            name: "CBOR",
            dependencies: ["CCbor"],
            swiftSettings: commonSettings
        ),

        // MARK: A reader-writer lock (glibc's pthread_rwlock_t) for state read on every request and rarely changed
        .target(name: "Locking", swiftSettings: commonSettings),

        // MARK: Process infrastructure: worker pool, supervisor driver, signals, threads, shared memory, privileges
        .target(
            name: "ProcessManager",
            dependencies: ["CProcess", .product(name: "Logging", package: "swift-log")],
            swiftSettings: commonSettings
        ),

        // MARK: Domain and HTTP
        .target(
            name: "Passwords",
            dependencies: ["CArgon2", "CCrypt", "CryptoPrimitives"],
            swiftSettings: commonSettings
        ),
        .target(
            name: "StrictJSON",
            swiftSettings: safeSettings
        ),
        .target(
            name: "JOSE",
            dependencies: ["CryptoPrimitives", "StrictJSON"],
            swiftSettings: safeSettings
        ),
        .target(
            name: "WebAuthn",
            dependencies: ["CBOR", "CryptoPrimitives", "JOSE", "StrictJSON"],
            swiftSettings: safeSettings
        ),
        .target(
            name: "AuthCore",
            dependencies: [
                "MariaDB", "JOSE", "CryptoPrimitives", "Passwords", "StrictJSON", "WebAuthn", "Locking",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: safeSettings
        ),
        .target(
            name: "AuthHTTP",
            dependencies: [
                "AuthCore", "FastCGI", "ProcessManager", "StrictJSON", "Passwords", "JOSE", "CryptoPrimitives", "QRCode",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: safeSettings
        ),

        // MARK: The program
        .executableTarget(
            name: "jwt-authd",
            dependencies: [
                "AuthCore", "AuthHTTP", "FastCGI", "MariaDB", "JOSE", "StrictJSON", "Passwords", "ProcessManager",
                "CryptoPrimitives", "SMTP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: safeSettings
        ),

        // MARK: The fuzz targets (scripts/fuzz) and their shared driver
        .target(
            name: "FuzzDriver",
            swiftSettings: commonSettings
        ),
        .executableTarget(
            name: "jose-fuzz",
            dependencies: ["JOSE", "CryptoPrimitives", "StrictJSON", "FuzzDriver"],
            swiftSettings: commonSettings
        ),

        .executableTarget(
            name: "webauthn-fuzz",
            dependencies: ["WebAuthn", "CBOR", "CryptoPrimitives", "JOSE", "StrictJSON", "FuzzDriver"],
            swiftSettings: commonSettings
        ),
        .executableTarget(
            name: "fastcgi-fuzz",
            dependencies: ["FastCGI", "AuthHTTP", "FuzzDriver", .product(name: "Logging", package: "swift-log")],
            swiftSettings: commonSettings
        ),

        // MARK: Tests
        .target(
            name: "TestSupport",
            dependencies: ["MariaDB", "CBOR", "CryptoPrimitives", "JOSE", "StrictJSON", .product(name: "Logging", package: "swift-log")],
            path: "Tests/TestSupport",
            swiftSettings: commonSettings
        ),
        .testTarget(
            name: "FastCGITests",
            dependencies: ["FastCGI", "CFastCGIReadGuard", "ProcessManager"],
            swiftSettings: commonSettings
        ),
        .testTarget(
            name: "MariaDBTests",
            dependencies: ["MariaDB", "TestSupport"],
            swiftSettings: commonSettings
        ),
        .testTarget(
            name: "AuthCoreTests",
            dependencies: ["AuthCore", "MariaDB", "TestSupport"],
            swiftSettings: commonSettings
        ),
        .testTarget(
            name: "CryptoPrimitivesTests",
            dependencies: ["CryptoPrimitives"],
            swiftSettings: commonSettings
        ),
        .testTarget(
            name: "PasswordsTests",
            dependencies: ["Passwords", "ProcessManager"],
            swiftSettings: commonSettings
        ),
        .testTarget(
            name: "ProcessManagerTests",
            dependencies: ["ProcessManager", "TestSupport"],
            swiftSettings: commonSettings
        ),
        .testTarget(
            name: "WebAuthnTests",
            dependencies: ["WebAuthn", "CBOR", "CryptoPrimitives", "StrictJSON", "JOSE", "TestSupport"],
            exclude: ["Fixtures"],
            swiftSettings: commonSettings
        ),
        .testTarget(
            name: "QRCodeTests",
            dependencies: ["QRCode"],
            swiftSettings: commonSettings
        ),
        .testTarget(
            name: "SMTPTests",
            dependencies: ["SMTP", "CCurl"],
            swiftSettings: commonSettings
        ),
        .testTarget(
            name: "StrictJSONTests",
            dependencies: ["StrictJSON"],
            swiftSettings: commonSettings
        ),
        .testTarget(
            name: "JOSETests",
            dependencies: ["JOSE", "CryptoPrimitives", "StrictJSON"],
            swiftSettings: commonSettings
        ),
        .testTarget(
            name: "AuthHTTPTests",
            dependencies: ["AuthHTTP", "AuthCore", "StrictJSON", "Passwords", "FastCGI", "ProcessManager", "TestSupport"],
            swiftSettings: commonSettings
        ),
    ]
)
