using Detach.Mime;
using Detach.Gateway.Cli;
using Detach.Gateway.Configuration;
using Detach.Gateway.Notify;
using Detach.Vault.Index;
using MimeKit;

namespace Detach.Gateway.Tests.Notify;

/// <summary>The notice settings (bound, validated, shown) and the notice mail itself.</summary>
public class NoticeSettingsTests
{
    private static DetachSettings Load(params string[] overrides) => DetachSettings.Load(DetachConfiguration.Build(null, overrides));

    [Fact]
    public void Nobody_is_notified_by_default()
    {
        var settings = Load();
        Assert.False(settings.Gateway.NotifySender);
        Assert.Empty(settings.Gateway.NotifySenderBySenderDomain);
        Assert.False(settings.Gateway.NotifiesSender("example.com"));
        Assert.Equal(60, settings.Notify.FirstRetrySeconds);
        Assert.Null(settings.Notify.Relay);
    }

    [Fact]
    public void A_domain_setting_overrides_the_default_either_way()
    {
        var some = Load("Gateway:NotifySenderBySenderDomain:example.com=true");
        var allBut = Load("Gateway:NotifySender=true", "Gateway:NotifySenderBySenderDomain:quiet.example=false");

        Assert.True(some.Gateway.NotifiesSender("EXAMPLE.com"));
        Assert.False(some.Gateway.NotifiesSender("other.example"));
        Assert.False(allBut.Gateway.NotifiesSender("quiet.example"));
        Assert.True(allBut.Gateway.NotifiesSender("other.example"));
    }

    [Fact]
    public void Domains_from_every_source_are_bound_and_nothing_else()
    {
        // The binder adds to a dictionary: what a file and the command line give is all there may be in it.
        var file = Path.Combine(Path.GetTempPath(), $"detach-notify-{Guid.NewGuid():N}.json");
        File.WriteAllText(file, """{ "Gateway": { "NotifySenderBySenderDomain": { "a.example": true, "b.example": false } } }""");
        try
        {
            var settings = DetachSettings.Load(DetachConfiguration.Build(file, ["Gateway:NotifySenderBySenderDomain:c.example=true"]));
            Assert.Equal(
                new Dictionary<string, string> { ["a.example"] = "True", ["b.example"] = "False", ["c.example"] = "true" },
                settings.Gateway.NotifySenderBySenderDomain.OrderBy(p => p.Key, StringComparer.Ordinal).ToDictionary());
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Theory]
    [InlineData("Gateway:NotifySender=maybe", "Failed to convert configuration value 'maybe' at 'Gateway:NotifySender'")]
    [InlineData("Gateway:NotifySenderBySenderDomain:example.com=often", "Gateway:NotifySenderBySenderDomain:example.com must be true or false, not 'often'")]
    [InlineData("Gateway:NotifySenderBySenderDomain:not a domain=true", "Gateway:NotifySenderBySenderDomain:not a domain must be keyed by a domain name")]
    [InlineData("Notify:Relay=http://relay.example:25", "Notify:Relay must be smtp://host:port")]
    [InlineData("Notify:Relay=smtp://relay.example", "Notify:Relay must give the port explicitly")]
    [InlineData("Notify:From=not an address", "Notify:From must be a mail address")]
    [InlineData("Notify:FirstRetrySeconds=0", "Notify:FirstRetrySeconds must be between 1 and 3600")]
    public void A_bad_notice_setting_is_named(string setting, string message)
    {
        var error = Assert.Throws<ConfigurationException>(() => Load(setting));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Config_show_includes_the_notice_settings()
    {
        var shown = ConfigCommands.Render(Load("Gateway:NotifySender=true", "Notify:Relay=smtp://127.0.0.1:10026", "Notify:From=Files <files@example.com>"));
        Assert.Contains("\"NotifySender\": true", shown, StringComparison.Ordinal);
        Assert.Contains("\"Relay\": \"smtp://127.0.0.1:10026\"", shown, StringComparison.Ordinal);
        Assert.Contains("files@example.com", shown, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("https://files.example.com", null, "noreply@files.example.com")]
    [InlineData("http://127.0.0.1:8080", null, "noreply@detach.localhost")]
    [InlineData("https://files.example.com", "Files <files@example.com>", "files@example.com")]
    public void The_notice_comes_from_the_configured_address_or_the_link_host(string publicUrl, string? from, string expected) =>
        Assert.Equal(expected, new NotifyOptions { From = from }.FromMailbox(publicUrl, "detach.localhost").Address);

    [Fact]
    public void The_notice_is_short_threaded_auto_submitted_and_survives_any_name()
    {
        var downloaded = new DateTimeOffset(2027, 1, 5, 9, 12, 0, TimeSpan.Zero);
        var notice = new SenderNotice(1, "bafkreiabc", "ann@example.com", "Übersicht\u202Eexe.pdf\r\nBcc: x@evil.example", "<orig@example.com>", downloaded, 1);

        var bytes = SenderNoticeMessage.ToBytes(SenderNoticeMessage.Create(notice, new MailboxAddress("Detach", "noreply@files.example.com"), downloaded, [NoticeLanguage.English]));
        var wire = System.Text.Encoding.ASCII.GetString(bytes);
        var parsed = MimeMessage.Load(new MemoryStream(bytes), TestContext.Current.CancellationToken);

        Assert.All(bytes, b => Assert.True(b < 0x80, "the notice is 7-bit on the wire"));
        Assert.DoesNotContain("\nBcc:", wire, StringComparison.Ordinal);
        Assert.Empty(parsed.Bcc);
        Assert.Equal("Downloaded: Übersichtexe.pdf  Bcc: x@evil.example", parsed.Subject);
        Assert.Equal("orig@example.com", parsed.InReplyTo);
        Assert.Equal(["orig@example.com"], parsed.References);
        Assert.Equal("auto-generated", parsed.Headers["Auto-Submitted"]);
        Assert.Contains("downloaded for the first time on 2027-01-05 09:12 UTC.", parsed.TextBody, StringComparison.Ordinal);
        Assert.Contains("It does not say who downloaded", parsed.TextBody, StringComparison.Ordinal);
        Assert.Contains("\r\n", wire, StringComparison.Ordinal);
        Assert.DoesNotContain("\r\r", wire, StringComparison.Ordinal);
    }
}
