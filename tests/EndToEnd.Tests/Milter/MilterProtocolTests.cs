using System.Diagnostics;
using System.Globalization;
using Detach.EndToEnd.Tests.Infrastructure;
using Detach.EndToEnd.Tests.Proxy;
using Detach.Gateway.Cli;

namespace Detach.EndToEnd.Tests.Milter;

/// <summary>detach's milter driven by MTA implementations we did not write: Debian's miltertest, `detach check`'s probe.</summary>
public sealed class MilterProtocolTests : IDisposable
{
    private readonly DirectoryInfo _scratch = Directory.CreateTempSubdirectory("detach-e2e-miltertest-");

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public void Dispose() => _scratch.Delete(recursive: true);

    [Fact]
    public async Task Miltertest_sees_plain_mail_accepted_early_text_left_alone_an_attachment_taken_out_and_a_signed_message_noted()
    {
        var miltertest = PeerBinaries.Find("miltertest");
        Assert.SkipWhen(miltertest is null, "miltertest is not installed: scripts/install-test-deps.sh (apt-get install miltertest)");
        var port = FreePort.Next();
        await using var detach = await DetachServer.StartAsync([$"Milter:Listen=127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}", "Smtp:Listen="], Token);
        var data = new byte[64 * 1024];
        Random.Shared.NextBytes(data);
        var body = Path.Combine(_scratch.FullName, "body.eml");
        await File.WriteAllTextAsync(body,
            "--b\r\nContent-Type: text/plain\r\n\r\nSee the file.\r\n--b\r\nContent-Type: application/octet-stream; name=\"data.bin\"\r\n" +
            "Content-Disposition: attachment; filename=\"data.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
            Convert.ToBase64String(data, Base64FormattingOptions.InsertLineBreaks) + "\r\n--b--\r\n", Token);

        var signed = Path.Combine(_scratch.FullName, "signed.eml");
        await File.WriteAllTextAsync(signed,
            "--s\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n" + await File.ReadAllTextAsync(body, Token) +
            "\r\n--s\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--s--\r\n", Token);

        var run = await ChildProcess.RunAsync(miltertest!,
            ["-D", $"port={port.ToString(CultureInfo.InvariantCulture)}", "-D", $"attachment={body}", "-D", $"signed={signed}",
             "-s", Path.Combine(AppContext.BaseDirectory, "Milter", "Scripts", "detach.lua")],
            TimeSpan.FromSeconds(120), Token);

        Assert.True(run.Succeeded, $"{run}\ndetach log:\n{string.Join('\n', detach.Logs.TakeLast(30))}");
        Assert.Contains("detach: ok", run.StandardOutput, StringComparison.Ordinal);
        Assert.Contains(detach.Logs, l => l.Contains("1 attachment(s) detached", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Detach_check_probes_the_milter_listener()
    {
        var port = FreePort.Next();
        var listen = $"inet:127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}";
        var detach = await DetachServer.StartAsync([$"Milter:Listen={listen}", "Smtp:Listen="], Token);
        CheckCommand.CheckResult up;
        try
        {
            up = Assert.Single(await CheckCommand.RunAsync(detach.Settings, Token), r => r.Name == "milter");
        }
        finally
        {
            await detach.DisposeAsync();
        }

        Assert.True(up.Ok, up.Detail);
        Assert.Contains($"{listen} answers the option negotiation (protocol 6", up.Detail, StringComparison.Ordinal);

        // detach removed its data folder on the way out, and `check` never creates one: the milter row still answers.
        var down = Assert.Single(await CheckCommand.RunAsync(detach.Settings, Token), r => r.Name == "milter");
        Assert.False(down.Ok);
        Assert.Contains("is `detach serve` running", down.Detail, StringComparison.Ordinal);
        Assert.False(Directory.Exists(detach.DataDirectory));
    }

    [Fact]
    public void Docs_page_shows_the_committed_milter_fragment_exactly()
    {
        var docsPath = Path.Combine(AppContext.BaseDirectory, "docs", "postfix.md");
        var docs = File.ReadAllText(File.Exists(docsPath) ? docsPath : Path.Combine(RepositoryPaths.Root, "docs", "postfix.md"));
        var rendered = MilterFragment.Render(MilterFragment.ProductionValues[MilterFragment.Milter]);
        Assert.Contains("```\n" + rendered + "```\n", docs, StringComparison.Ordinal);
        Assert.Contains($"| `{{{{{MilterFragment.Milter}}}}}` | `{MilterFragment.ProductionValues[MilterFragment.Milter]}` |", docs, StringComparison.Ordinal);
    }
}
