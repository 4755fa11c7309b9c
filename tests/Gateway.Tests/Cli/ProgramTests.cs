using System.Text;
using Detach.Gateway.Cli;

namespace Detach.Gateway.Tests.Cli;

/// <summary>The `detach` program itself, run as a process the way Postfix's pipe service or an admin runs it.</summary>
public class ProgramTests
{
    private static async Task<(int Exit, string Stdout, string Stderr)> RunAsync(string dataPath, byte[]? stdin, params string[] args)
    {
        var result = await DetachProcess.RunAsync(dataPath, new Dictionary<string, string>
        {
            ["DETACH__DataPath"] = Path.Combine(dataPath, "data"),
            ["DETACH__PublicUrl"] = "https://files.example.com",
        }, stdin, args);
        return (result.ExitCode, result.StandardOutput, result.StandardError);
    }

    [Fact]
    public async Task Filter_reinjects_with_sendmail_for_the_pipe_service()
    {
        using var data = new DataFolder();
        var fakeSendmail = Path.Combine(data.Path, "sendmail");
        var argsFile = Path.Combine(data.Path, "args.txt");
        var messageFile = Path.Combine(data.Path, "message.eml");
        await File.WriteAllTextAsync(fakeSendmail, $"#!/bin/sh\nprintf '%s\\n' \"$@\" > '{argsFile}'\ncat > '{messageFile}'\n", TestContext.Current.CancellationToken);
        if (OperatingSystem.IsWindows())
        {
            Assert.Skip("The pipe filter and sendmail are for Unix hosts.");
        }
        else
        {
            File.SetUnixFileMode(fakeSendmail, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        // master.cf: argv=/usr/local/bin/detach filter -f ${sender} -- ${recipient}
        var (exit, stdout, stderr) = await RunAsync(data.Path, DataFolder.MessageWith(DataFolder.RandomBytes(40_000, 20)),
            "filter", "--sendmail", fakeSendmail, "-f", "ann@example.com", "--", "bob@example.test", "carol@example.test");

        Assert.True(exit == ExitCodes.Ok, stderr);
        Assert.Empty(stdout);
        Assert.Equal(["-G", "-i", "-f", "ann@example.com", "--", "bob@example.test", "carol@example.test"],
            (await File.ReadAllLinesAsync(argsFile, TestContext.Current.CancellationToken)));
        Assert.Single(DataFolder.Links(await File.ReadAllTextAsync(messageFile, TestContext.Current.CancellationToken)));

        var (lsExit, listing, _) = await RunAsync(data.Path, null, "vault", "ls");
        Assert.Equal(ExitCodes.Ok, lsExit);
        Assert.Contains("report.pdf", listing, StringComparison.Ordinal);
        var (statsExit, stats, _) = await RunAsync(data.Path, null, "vault", "stats");
        Assert.Equal(ExitCodes.Ok, statsExit);
        Assert.Contains("Ratio (mailbox bytes per stored):   2.00x", stats, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Filter_without_recipients_writes_to_standard_output()
    {
        using var data = new DataFolder();
        var (exit, stdout, stderr) = await RunAsync(data.Path, DataFolder.MessageWith(DataFolder.RandomBytes(40_000, 21)), "filter");
        Assert.True(exit == ExitCodes.Ok, stderr);
        Assert.Single(DataFolder.Links(stdout));
    }

    [Fact]
    public async Task A_bad_setting_exits_with_EX_CONFIG_and_names_the_key()
    {
        using var data = new DataFolder();
        var (exit, _, stderr) = await RunAsync(data.Path, [], "filter", "--set", "Vault:RetentionDays=0");
        Assert.Equal(ExitCodes.Config, exit);
        Assert.Contains("Vault:RetentionDays must be between 1 and 3650", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Revoke_by_message_id_makes_the_link_fail()
    {
        using var data = new DataFolder();
        var (_, stdout, _) = await RunAsync(data.Path, DataFolder.MessageWith(DataFolder.RandomBytes(40_000, 22), messageId: "<to-revoke@example.com>"), "filter");
        var link = Assert.Single(DataFolder.Links(stdout));

        var (revokeExit, revokeOut, _) = await RunAsync(data.Path, null, "vault", "revoke", "to-revoke@example.com");
        Assert.Equal(ExitCodes.Ok, revokeExit);
        Assert.StartsWith("revoked ", revokeOut, StringComparison.Ordinal);

        var (fetchExit, _, fetchErr) = await RunAsync(data.Path, null, "fetch", link, "-o", Path.Combine(data.Path, "x.bin"));
        Assert.Equal(ExitCodes.Unavailable, fetchExit);
        Assert.Contains("its key was erased", fetchErr, StringComparison.Ordinal);
        Assert.DoesNotContain(link.Split('#')[1], fetchErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Check_reports_a_table_and_fails_when_the_next_hop_is_down()
    {
        using var data = new DataFolder();
        Assert.Equal(ExitCodes.Ok, (await RunAsync(data.Path, DataFolder.MessageWith(DataFolder.RandomBytes(5_000, 23)), "filter")).Exit);
        var (exit, stdout, _) = await RunAsync(data.Path, null, "check", "--set", "Smtp:NextHop=smtp://127.0.0.1:9");
        Assert.Equal(1, exit);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(lines, l => l.StartsWith("ok    data folder", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("ok    index", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("ok    store", StringComparison.Ordinal) && l.Contains("probe added, read back and removed", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("FAIL  next hop", StringComparison.Ordinal));

        (exit, stdout, _) = await RunAsync(data.Path, null, "check");
        Assert.True(exit == 0, stdout);
        Assert.Contains("none: mail is delivered to the Maildir", stdout, StringComparison.Ordinal);
    }
}
