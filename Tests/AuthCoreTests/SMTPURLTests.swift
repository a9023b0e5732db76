import Testing

@testable import AuthCore

@Suite struct SMTPURLTests {
    @Test func partsCredentialsAndDefaultPorts() throws {
        let url = try SMTPURL(parsing: "smtp://mailer:p%40ss%3Aw%2Frd@Mail.Example.com:587")
        #expect(!url.implicitTLS && url.host == "Mail.Example.com" && url.port == 587 && url.path.isEmpty)
        #expect(url.username == "mailer" && url.password == "p@ss:w/rd")
        #expect(url.withoutCredentials == "smtp://Mail.Example.com:587")
        #expect(url.description == "smtp://***@Mail.Example.com:587" && !url.description.contains("p%40ss"))
        #expect(try SMTPURL(parsing: "smtp://relay").port == 25)
        #expect(try SMTPURL(parsing: "SMTPS://relay").port == 465)
        #expect(try SMTPURL(parsing: "smtp://u@relay/host.example").path == "/host.example")
        let v6 = try SMTPURL(parsing: "smtp://[::1]:2525")
        #expect(v6.host == "[::1]" && v6.port == 2525 && v6.isLoopback && v6.username == nil && v6.password == nil)
        // The last @ ends the user part: an unescaped @ in the password still parses.
        #expect(try SMTPURL(parsing: "smtp://u:a@b@relay").password == "a@b")
    }

    @Test func loopbackHosts() throws {
        for host in ["localhost", "127.0.0.1", "127.8.9.10", "[::1]", "LOCALHOST"] {
            #expect(try SMTPURL(parsing: "smtp://\(host)").isLoopback, "\(host)")
        }
        for host in ["127.0.0.1.example.com", "localhost.example", "10.0.0.1", "mail.example.com", "[::2]", "127.0.0.256"] {
            #expect(try !SMTPURL(parsing: "smtp://\(host)").isLoopback, "\(host)")
        }
    }

    @Test(arguments: [
        "", "mail.example.com", "http://mail.example.com", "smtp://", "smtp://:25", "smtp://host:0", "smtp://host:65536",
        "smtp://host:25x", "smtp://host:-1", "smtp://ho st", "smtp://host?x=1", "smtp://host#f", "smtp://host/a/b",
        "smtp://u:p%zz@host", "smtp://u:p%0@host", "smtp://u:%00@host", "smtp://:pw@host", "smtp://[::1", "smtp://[zz]",
        "smtp://[::1]x", "smtp://host\u{00E9}", "smtp://-host", "smtp://host\r\nRCPT",
    ])
    func malformedURLsAreRefused(text: String) {
        #expect(throws: SMTPURLError.self) { try SMTPURL(parsing: text) }
    }

    @Test func theSecurityFollowsTheSchemeTheHostAndTheSetting() throws {
        var mail = Config.Mail()
        mail.smtpURL = try SMTPURL(parsing: "smtp://mail.example.com:587")
        #expect(mail.smtpSecurity == .startTLS, "auto: STARTTLS required to a remote server")
        mail.smtpTLS = .none
        #expect(mail.smtpSecurity == .plain, "plain only when explicitly allowed")
        mail.smtpURL = try SMTPURL(parsing: "smtp://127.0.0.1")
        mail.smtpTLS = .auto
        #expect(mail.smtpSecurity == .plain, "auto: a loopback relay in plain")
        mail.smtpTLS = .starttls
        #expect(mail.smtpSecurity == .startTLS)
        mail.smtpURL = try SMTPURL(parsing: "smtps://mail.example.com")
        #expect(mail.smtpSecurity == .implicitTLS)
    }

    @Test func theConfigurationNamesTheKeyAndNeverShowsThePassword() throws {
        var env = ConfigTests.minimal
        env["JWT_AUTHD_MAIL_TRANSPORT"] = "smtp"
        env["JWT_AUTHD_PUBLIC_URL"] = "https://site.example"
        func problems(_ env: [String: String]) -> ConfigError? {
            do {
                _ = try Config.load(sources: ConfigSources(flags: [:], environment: env, file: [:], inheritedSocket: false, readFile: { _ in "" }))
                return nil
            } catch {
                return error
            }
        }
        #expect(try #require(problems(env)).mentions("mail.smtp_url"), "smtp needs a URL")
        env["JWT_AUTHD_SMTP_URL"] = "smtp://u:hunter2%zz@mail.example.com"
        let bad = try #require(problems(env))
        #expect(bad.mentions("mail.smtp_url") && !"\(bad)".contains("hunter2"))
        env["JWT_AUTHD_SMTP_URL"] = "smtps://u:hunter2@mail.example.com"
        env["JWT_AUTHD_SMTP_TLS"] = "none"
        #expect(try #require(problems(env)).mentions("mail.smtp_tls"))
        env["JWT_AUTHD_SMTP_TLS"] = nil
        let config = try Config.load(sources: ConfigSources(flags: [:], environment: env, file: [:], inheritedSocket: false, readFile: { _ in "" }))
        #expect(config.mail.smtpURL?.password == "hunter2" && config.mail.smtpSecurity == .implicitTLS)
        #expect(!config.describedLines().contains { $0.value.contains("hunter2") })
        env["JWT_AUTHD_MAIL_TRANSPORT"] = "sendmail"
        env["JWT_AUTHD_SENDMAIL"] = "sendmail"
        #expect(try #require(problems(env)).mentions("mail.sendmail_path"))
    }
}
