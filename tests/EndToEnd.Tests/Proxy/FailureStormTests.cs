using System.Text.RegularExpressions;
using Detach.EndToEnd.Tests.Infrastructure;

namespace Detach.EndToEnd.Tests.Proxy;

/// <summary>
/// A 451 storm: storage fails for every message. Each failed transaction used to be ended downstream with a RSET on
/// the pooled next-hop connection, which the after-filter smtpd counts as a junk command (smtpd_junk_command_limit;
/// the count only resets when mail is delivered, which in a storm it never is): past the limit every RSET is an
/// error, replies are delayed by smtpd_error_sleep_time, and at smtpd_hard_error_limit Postfix drops the connection
/// ("too many errors after RSET"). Here the limits are small, so a few failed messages reach them.
/// </summary>
public sealed partial class FailureStormTests : IDisposable
{
    private const int FailedMessages = 8;

    private readonly DirectoryInfo _scratch = Directory.CreateTempSubdirectory("detach-e2e-storm-");

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public void Dispose() => _scratch.Delete(recursive: true);

    [Fact]
    public async Task Failed_transactions_feed_the_after_filter_smtpd_no_junk_commands()
    {
        PeerBinaries.RequirePostfix();
        PeerBinaries.RequireSwaks();
        await using var proxy = await PostfixWithDetach.StartAsync(Token,
            [$"Vault:IpfsApiUrl=http://127.0.0.1:{FreePort.Next()}", "Vault:WhenNodeDown=TempFail"],
            options => options with
            {
                MainSettings = new Dictionary<string, string>
                {
                    ["smtpd_junk_command_limit"] = "2",
                    ["smtpd_soft_error_limit"] = "1",
                    ["smtpd_hard_error_limit"] = "2",
                    ["smtpd_error_sleep_time"] = "0s",
                },
            });
        var file = TestFiles.WriteRandom(_scratch.FullName, "report.pdf", 20 * 1024);

        for (var i = 0; i < FailedMessages; i++)
        {
            var refused = await proxy.Swaks().To(PostfixInstance.Address("alice")).Attach(file).RunAsync(Token);
            Assert.True(Assert.Single(refused.DataReplies).Code is >= 400 and < 500, refused.ToString());
        }

        var plain = await proxy.Swaks().To(PostfixInstance.Address("alice")).Header("Message-Id", TestFiles.NewMessageId("after-storm")).RunAsync(Token);
        Assert.True(plain.ExitCode == 0, plain.ToString());
        await proxy.Postfix.WaitForMailAsync("alice", 1, PostfixWithDetach.Patience, Token);

        // Postfix's own account of each session ("disconnect from ... rset=N ... commands=N") and of its limits.
        var log = await proxy.Postfix.ReadLogAsync(Token);
        Assert.DoesNotContain("too many errors", log, StringComparison.Ordinal);
        Assert.Empty(RsetCount().Matches(log).Select(m => m.Value));
    }

    [GeneratedRegex(@"disconnect from .* rset=\d+")]
    private static partial Regex RsetCount();
}
