using System.Text;
using Detach.Gateway.Cli;
using Detach.Gateway.Configuration;
using Detach.Gateway.Hosting;
using Detach.Gateway.Metrics;
using Detach.Gateway.Processing;
using Detach.Gateway.Tests.Cli;
using Detach.Mime;
using Detach.Vault.Index;
using Microsoft.Extensions.Logging.Abstractions;

namespace Detach.Gateway.Tests.Notices;

/// <summary>
/// Policy:Language and Policy:LanguageBySenderDomain from configuration to the notice in the mail: bound without
/// defaults slipping into the dictionary, validated at start, and chosen per message by the sender's domain as
/// the pipeline computes it (envelope, else From), with Gateway:MaxDownloadsPerLink in the notice.
/// </summary>
public sealed class NoticeLanguageSettingsTests
{
    private static DetachSettings Load(params string[] overrides) => DetachSettings.Load(DetachConfiguration.Build(null, overrides));

    [Fact]
    public void Defaults_are_english_and_no_domain_overrides()
    {
        var settings = Load();
        Assert.Equal("en", settings.Policy.Language);
        Assert.Empty(settings.Policy.LanguageBySenderDomain);
    }

    [Fact]
    public void The_language_and_each_domain_override_bind_as_given_and_nothing_else()
    {
        var settings = Load("Policy:Language=en+fr", "Policy:LanguageBySenderDomain:Example.FR=fr", "Policy:LanguageBySenderDomain:example.ca=fr+en");
        Assert.Equal(2, settings.Policy.LanguageBySenderDomain.Count);
        Assert.Equal(["en", "fr"], settings.Policy.NoticeLanguagesFor("example.com").Select(l => l.Tag));
        Assert.Equal(["fr"], settings.Policy.NoticeLanguagesFor("example.fr").Select(l => l.Tag));
        Assert.Equal(["fr", "en"], settings.Policy.NoticeLanguagesFor("example.ca").Select(l => l.Tag));
    }

    [Theory]
    [InlineData("Policy:Language=de", "Policy:Language 'de' names 'de', which is not a language of the notice (en, fr;")]
    [InlineData("Policy:Language=en+en", "Policy:Language 'en+en' names 'en' twice")]
    [InlineData("Policy:LanguageBySenderDomain:example.de=de", "Policy:LanguageBySenderDomain:example.de 'de' names 'de'")]
    public void A_language_without_a_resource_file_stops_the_start_naming_the_key(string setting, string message)
    {
        var error = Assert.Throws<ConfigurationException>(() => Load(setting));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ann@example.fr", "Ann <ann@example.com>", "fr")]
    [InlineData(null, "Ann <ann@example.fr>", "fr")]
    [InlineData("", "Ann <ann@EXAMPLE.FR>", "fr")]
    [InlineData("ann@example.com", "Ann <ann@example.fr>", "en")]
    public async Task The_notice_speaks_the_language_of_the_sender_s_domain_with_the_download_limit(string? envelopeSender, string from, string expected)
    {
        var token = TestContext.Current.CancellationToken;
        using var data = new DataFolder();
        var settings = data.Settings("Policy:LanguageBySenderDomain:example.fr=fr", "Gateway:MaxDownloadsPerLink=3");
        await using var components = await VaultComponents.OpenAsync(settings, token);
        using var metrics = new DetachMetrics();
        var detacher = new MessageDetacher(components.Vault, settings, metrics, NullLogger<MessageDetacher>.Instance);
        var message = Encoding.ASCII.GetString(DataFolder.MessageWith(DataFolder.RandomBytes(20_000, 3))).Replace("From: Ann Sender <ann@example.com>", "From: " + from, StringComparison.Ordinal);

        await using var spool = new SpillStream(data.Path);
        await spool.WriteAsync(Encoding.ASCII.GetBytes(message), token);
        await using var detached = await detacher.PrepareAsync(spool, new MessageEnvelope(envelopeSender, 1), token);
        using var output = new MemoryStream();
        await detached.WriteToAsync(output, token);
        output.Position = 0;
        var structure = await MimeStructure.ParseAsync(output, cancellationToken: token);
        var text = structure.Root.DescendantsAndSelf().First(e => e.MimeType == "text/plain");
        await using var body = structure.OpenBody(text);
        using var decoded = new MemoryStream();
        await body.CopyToAsync(decoded, token);
        string notice = Encoding.UTF8.GetString(decoded.ToArray());

        Assert.Contains(expected == "fr" ? "  20,0 ko, disponible jusqu’au " : "  20.0 kB, available until ", notice, StringComparison.Ordinal);
        Assert.EndsWith(expected == "fr" ? " UTC, 3 téléchargements au plus\r\n  <" + detached.Result.Detached[0].Link + ">\r\n" : " UTC, at most 3 downloads\r\n  <" + detached.Result.Detached[0].Link + ">\r\n",
            notice, StringComparison.Ordinal);
        await detached.AbandonAsync(token);
    }

    [Fact]
    public void Vault_ls_and_stats_write_sizes_as_the_notice_and_the_page_do()
    {
        var now = DateTimeOffset.UtcNow;
        var record = new AttachmentRecord
        {
            Cid = "bafkreitest", ContentType = "application/pdf", FileName = "report.pdf", MessageId = "<m@example.com>", SenderDomain = "example.com",
            PlaintextSize = 9092, CreatedAt = now, ExpiresAt = now.AddDays(1), RecipientCount = 3,
        };
        Assert.Contains("\nbafkreitest\t9.1 kB\t3\t", VaultCommands.FormatList([record], now), StringComparison.Ordinal);

        string stats = VaultCommands.FormatEconomy(new StorageEconomy { StoredBytes = 9092, LiveStoredBytes = 512, MailboxBytes = 35_200_000, LiveMailboxBytes = 1 });
        Assert.Contains("Stored once (ciphertext):           9.1 kB (512 bytes live)", stats, StringComparison.Ordinal);
        Assert.Contains("Would have cost in mailboxes:       35.2 MB (1 byte live)", stats, StringComparison.Ordinal);
        Assert.DoesNotContain("iB", stats, StringComparison.Ordinal);
    }
}
