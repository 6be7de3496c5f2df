// swift-tools-version:6.1
import PackageDescription

// Postie builds on Linux with glibc: it calls libresolv, syncfs(2) and malloc_trim(3) through the
// C shims below. No Apple platform is supported, so none is declared.
let package = Package(
    name: "Postie",
    products: [
        .executable(name: "postie", targets: ["PostieCLI"]),
        .library(name: "SMTPCore", targets: ["SMTPCore"]),
        .library(name: "MailCore", targets: ["MailCore"]),
        .library(name: "MailAuth", targets: ["MailAuth"]),
        .library(name: "Storage", targets: ["Storage"]),
        .library(name: "SMTPNIO", targets: ["SMTPNIO"]),
        .library(name: "Delivery", targets: ["Delivery"]),
        .library(name: "Postie", targets: ["Postie"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/swift-extras/swift-extras-base64.git", from: "1.2.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // Pure protocol logic: commands, replies, addresses, DATA codec, session state machines.
        .target(
            name: "SMTPCore",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ExtrasBase64", package: "swift-extras-base64"),
            ]
        ),
        // Pure mail logic: envelopes, header scanning, trace headers, routing, queue ids.
        .target(
            name: "MailCore",
            dependencies: ["SMTPCore", .product(name: "NIOCore", package: "swift-nio")]
        ),
        // Mail authentication, pure: DKIM signing and verifying, ARC, SPF, DMARC, SRS.
        .target(
            name: "MailAuth",
            dependencies: [
                "MailCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ],
            exclude: ["DMARC/PublicSuffixList.LICENSE"]
        ),
        // Durable storage: spool with group commit, Maildir writer.
        .target(
            name: "Storage",
            dependencies: [
                "MailCore", "CSyncFS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // glibc's libresolv for MX/A/AAAA lookups (no Swift package resolves MX records).
        .systemLibrary(name: "CResolv", path: "Sources/CResolv"),
        // syncfs(2), for group commit of whole batches of files.
        .systemLibrary(name: "CSyncFS", path: "Sources/CSyncFS"),
        // malloc_trim(3), to give the memory of a passed storm of connections back.
        .systemLibrary(name: "CMalloc", path: "Sources/CMalloc"),
        // SwiftNIO channels that run the pure sessions; DNS resolution.
        .target(
            name: "SMTPNIO",
            dependencies: [
                "SMTPCore", "MailCore", "CResolv",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The admin listener's pure part: requests gathered from SwiftNIO's HTTP parts, and routed.
        .target(
            name: "AdminHTTP",
            dependencies: [.product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio")]
        ),
        // The delivery half: the queue's scheduler, the targets (Maildir, LMTP, relay), reports.
        .target(
            name: "Delivery",
            dependencies: [
                "SMTPCore", "MailCore", "MailAuth", "Storage", "SMTPNIO",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Wiring: configuration, control, lifecycle; the composition root.
        .target(
            name: "Postie",
            dependencies: [
                "SMTPCore", "MailCore", "MailAuth", "Storage", "SMTPNIO", "Delivery", "AdminHTTP", "CMalloc",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOCertificateReloading", package: "swift-nio-extras"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "ExtrasBase64", package: "swift-extras-base64"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .executableTarget(
            name: "PostieCLI",
            dependencies: [
                "Postie", "SMTPCore", "SMTPNIO", "Storage", "MailAuth",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Fuzzing (docs/security.md): the harness is a library so that the tests replay the inputs
        // the fuzzer once crashed on; SMTPFuzz is the libFuzzer executable (Fuzz/run builds it).
        .target(
            name: "FuzzHarness",
            dependencies: [
                "SMTPCore", "MailCore", "MailAuth", "AdminHTTP", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            path: "Fuzz/Harness"),
        .executableTarget(name: "SMTPFuzz", dependencies: ["FuzzHarness"], path: "Fuzz/SMTPFuzz"),
        // Helpers shared by the test targets: transcripts, paths, external clients.
        .target(
            name: "TestSupport",
            dependencies: [.product(name: "NIOConcurrencyHelpers", package: "swift-nio")],
            path: "Tests/TestSupport"),
        .testTarget(
            name: "SMTPCoreTests",
            dependencies: ["SMTPCore", "TestSupport", "FuzzHarness", .product(name: "ExtrasBase64", package: "swift-extras-base64")]),
        .testTarget(name: "MailCoreTests", dependencies: ["MailCore"]),
        .testTarget(
            name: "MailAuthTests",
            dependencies: [
                "MailAuth", "SMTPNIO", "TestSupport", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"), .product(name: "NIOPosix", package: "swift-nio"),
            ]),
        .testTarget(
            name: "StorageTests",
            dependencies: ["Storage", "TestSupport", .product(name: "NIOConcurrencyHelpers", package: "swift-nio")]),
        .testTarget(
            name: "SMTPNIOTests",
            dependencies: [
                "SMTPNIO", "TestSupport",
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "DeliveryTests",
            dependencies: ["Delivery", "Storage", "TestSupport", .product(name: "NIOConcurrencyHelpers", package: "swift-nio")]),
        .testTarget(
            name: "PostieTests",
            dependencies: [
                "Postie", "Delivery", "Storage", "MailAuth", "AdminHTTP", "TestSupport",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio"),
            ]),
        .testTarget(name: "PostieCLITests", dependencies: ["PostieCLI", "TestSupport"]),
    ]
)
