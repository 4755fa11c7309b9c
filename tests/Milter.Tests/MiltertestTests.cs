using System.Globalization;
using System.Net;
using System.Text;

namespace Detach.Milter.Tests;

/// <summary>
/// Debian's <c>miltertest</c> (OpenDKIM's libmilter-based test MTA, Lua scripts in Scripts/) against the server:
/// an MTA implementation we did not write negotiates, sends a message and checks the changes.
/// </summary>
public sealed class MiltertestTests
{
    [Fact]
    public async Task Miltertest_sees_every_header_edit_and_the_new_body()
    {
        var backend = new RecordingBackend
        {
            EndOfMessage = (body, _) =>
            {
                Assert.Equal("old body\r\n", Encoding.ASCII.GetString(body));
                return Task.FromResult(new MilterMessageResult(MilterVerdict.Accept)
                {
                    HeaderEdits =
                    [
                        MilterHeaderEdit.Change(1, "Subject"u8.ToArray(), " changed"u8.ToArray()),
                        MilterHeaderEdit.Delete(1, "X-Remove"u8.ToArray()),
                        MilterHeaderEdit.Insert(0, "X-Test"u8.ToArray(), " inserted"u8.ToArray()),
                        MilterHeaderEdit.Add("X-Added"u8.ToArray(), " added"u8.ToArray()),
                    ],
                    ReplacementBody = new MemoryStream("new body\r\n"u8.ToArray()),
                });
            },
        };
        await RunScriptAsync("edits.lua", backend);
        Assert.Contains("eom i=QID1 auth=ann", backend.Events);
    }

    [Fact]
    public async Task Miltertest_gets_plain_mail_accepted_at_end_of_headers_twice_on_one_connection()
    {
        var backend = new RecordingBackend { EndOfHeaders = () => MilterVerdict.Accept };
        await RunScriptAsync("plain.lua", backend);
        Assert.Equal(2, backend.Events.Count(e => e.StartsWith("eoh", StringComparison.Ordinal)));
    }

    private static async Task RunScriptAsync(string script, RecordingBackend backend)
    {
        var miltertest = InstalledPrograms.Require("miltertest", "miltertest");
        var options = new MilterServerOptions();
        options.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0));
        options.MacroRequests[MilterMacroStage.EndOfMessage] = "i";
        await using var server = new MilterServer(options, backend);
        server.Start();
        using var stop = new CancellationTokenSource();
        var run = server.RunAsync(stop.Token);
        var port = ((IPEndPoint)server.LocalEndPoints[0]).Port;

        var result = await ChildProcess.RunAsync(
            miltertest,
            ["-D", "port=" + port.ToString(CultureInfo.InvariantCulture), "-s", Path.Combine(AppContext.BaseDirectory, "Scripts", script)],
            TimeSpan.FromSeconds(60),
            TestContext.Current.CancellationToken);
        var transcript = result.StandardOutput + result.StandardError;
        Assert.True(result.Succeeded, $"miltertest exited {result.ExitCode}:\n{transcript}\nevents: {string.Join(" | ", backend.Events)}");
        Assert.Contains(": ok", transcript, StringComparison.Ordinal);

        await stop.CancelAsync();
        await run;
    }
}
