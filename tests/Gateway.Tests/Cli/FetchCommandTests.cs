using System.Text;
using Detach.Gateway.Cli;
using Detach.Gateway.Configuration;
using Detach.Gateway.Hosting;
using Detach.Gateway.Processing;
using Detach.Vault.Storage;

namespace Detach.Gateway.Tests.Cli;

public class FetchCommandTests
{
    private static async Task<string> StoreAsync(DetachSettings settings, byte[] attachment, string messageId = "<fetch@example.com>")
    {
        var output = new MemoryStream();
        var exit = await FilterCommand.RunAsync(settings, new MemoryStream(DataFolder.MessageWith(attachment, messageId: messageId)), output, [],
            new MessageEnvelope("ann@example.com", 1), TextWriter.Null, TestContext.Current.CancellationToken);
        Assert.Equal(ExitCodes.Ok, exit);
        return Assert.Single(DataFolder.Links(Encoding.UTF8.GetString(output.ToArray())));
    }

    private static async Task<(int Exit, string Error)> FetchAsync(DetachSettings settings, string link, string target)
    {
        var error = new StringWriter();
        var exit = await FetchCommand.RunAsync(settings, link, new FileInfo(target), error, TestContext.Current.CancellationToken);
        return (exit, error.ToString());
    }

    [Fact]
    public async Task A_wrong_key_is_a_data_error_and_leaves_no_file()
    {
        using var data = new DataFolder();
        var settings = data.Settings();
        var link = await StoreAsync(settings, DataFolder.RandomBytes(200_000, 10));
        var key = link[(link.IndexOf('#', StringComparison.Ordinal) + 1)..];
        var wrong = link[..(link.IndexOf('#', StringComparison.Ordinal) + 1)] + (key[0] == 'A' ? 'B' : 'A') + key[1..];
        var target = Path.Combine(data.Path, "out.bin");

        var (exit, error) = await FetchAsync(settings, wrong, target);

        Assert.Equal(ExitCodes.DataError, exit);
        Assert.Contains("integrity check failed at record 0", error, StringComparison.Ordinal);
        Assert.DoesNotContain(key, error, StringComparison.Ordinal);
        Assert.False(File.Exists(target));
        Assert.Empty(Directory.GetFiles(data.Path, "*.partial"));
    }

    [Fact]
    public async Task A_tampered_record_stops_the_fetch_and_leaves_no_file()
    {
        using var data = new DataFolder();
        var settings = data.Settings();
        var link = await StoreAsync(settings, DataFolder.RandomBytes(300_000, 11));
        await using (var components = await VaultComponents.OpenAsync(settings, TestContext.Current.CancellationToken))
        {
            // Flip one bit in the third record of the stored ciphertext.
            var cid = Cid.Parse(link.Split("/d/")[1].Split('#')[0]);
            var path = components.Local.PathOf(cid);
            File.SetAttributes(path, FileAttributes.Normal);
            var bytes = await File.ReadAllBytesAsync(path, TestContext.Current.CancellationToken);
            bytes[2 * 65_600 + 100] ^= 0x01;
            await File.WriteAllBytesAsync(path, bytes, TestContext.Current.CancellationToken);
        }

        var target = Path.Combine(data.Path, "out.bin");
        var (exit, error) = await FetchAsync(settings, link, target);

        Assert.Equal(ExitCodes.DataError, exit);
        Assert.Contains("record 2", error, StringComparison.Ordinal);
        Assert.False(File.Exists(target));
    }

    [Fact]
    public async Task Revoked_links_are_gone_for_good()
    {
        using var data = new DataFolder();
        var settings = data.Settings();
        var link = await StoreAsync(settings, DataFolder.RandomBytes(10_000, 12), "<revoke-me@example.com>");
        await using (var components = await VaultComponents.OpenAsync(settings, TestContext.Current.CancellationToken))
        {
            var revoked = await components.Vault.RevokeAsync("<revoke-me@example.com>", "revoked by admin", TestContext.Current.CancellationToken);
            Assert.Single(revoked);
        }

        var (exit, error) = await FetchAsync(settings, link, Path.Combine(data.Path, "out.bin"));
        Assert.Equal(ExitCodes.Unavailable, exit);
        Assert.Contains("gone (revoked by admin", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("https://files.example.com/d/bafkreiabc", "has no key")]
    [InlineData("https://files.example.com/d/bafkreiabc#short", "")]
    [InlineData("not a url#AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "not an absolute URL")]
    public async Task A_malformed_link_is_a_usage_error(string link, string expected)
    {
        using var data = new DataFolder();
        var (exit, error) = await FetchAsync(data.Settings(), link, Path.Combine(data.Path, "out.bin"));
        Assert.Equal(ExitCodes.Usage, exit);
        Assert.Contains(expected, error, StringComparison.Ordinal);
        Assert.DoesNotContain("short", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_cid_is_no_input()
    {
        using var data = new DataFolder();
        var settings = data.Settings();
        var link = await StoreAsync(settings, DataFolder.RandomBytes(10_000, 13));
        var other = link.Replace("/d/bafkrei", "/d/bafkreia", StringComparison.Ordinal);
        var (exit, error) = await FetchAsync(settings, other, Path.Combine(data.Path, "out.bin"));
        Assert.Equal(ExitCodes.NoInput, exit);
        Assert.Contains("no attachment", error, StringComparison.Ordinal);
    }
}
