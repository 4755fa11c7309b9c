using Detach.EndToEnd.Tests.Infrastructure;
using Detach.EndToEnd.Tests.Proxy;

namespace Detach.EndToEnd.Tests.Notify;

/// <summary>
/// Telling the sender, through the real mail system: sender@example.test mails alice an attachment through Postfix
/// and detach; alice downloads it; the notice goes from detach to Postfix's after-filter smtpd (or a relay that
/// is down for a while), through Postfix's queue, into the sender's Maildir.
/// </summary>
public sealed class SenderNoticeTests : IDisposable
{
    private readonly DirectoryInfo _scratch = Directory.CreateTempSubdirectory("detach-e2e-notice-");

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public void Dispose() => _scratch.Delete(recursive: true);

    private async Task<(string Link, string MessageId, string Sha256)> SendToAliceAsync(PostfixWithDetach setup, string fileName)
    {
        var file = TestFiles.WriteRandom(_scratch.FullName, fileName, 200 * 1024);
        var messageId = TestFiles.NewMessageId("notice");
        var result = await setup.Swaks().To(PostfixInstance.Address("alice")).Header("Message-Id", messageId).Header("Subject", "The plans")
            .Body("Plans attached.").Attach(file).RunAsync(Token);
        Assert.True(result.ExitCode == 0, result.ToString());
        var mail = Assert.Single(await setup.WaitForCopiesAsync("alice", messageId, Token));
        return (Assert.Single(mail.Links), messageId, TestFiles.Sha256(file));
    }

    /// <summary>What a recipient's browser or `detach fetch` does: GET /file with the key in the header.</summary>
    private static async Task<string> DownloadSha256Async(string link)
    {
        var hash = link.IndexOf('#', StringComparison.Ordinal);
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, link[..hash] + "/file");
        request.Headers.Add("X-Detach-Key", link[(hash + 1)..]);
        using var response = await http.SendAsync(request, Token);
        response.EnsureSuccessStatusCode();
        return Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(await response.Content.ReadAsByteArrayAsync(Token)));
    }

    private static async Task<IReadOnlyList<DeliveredMail>> NoticesAsync(PostfixWithDetach setup, string messageId)
    {
        var notices = new List<DeliveredMail>();
        foreach (var path in setup.Postfix.MessagesIn("sender"))
        {
            var mail = await DeliveredMail.ReadAsync(path, Token);
            if (mail.Header("In-Reply-To") == messageId)
            {
                notices.Add(mail);
            }
        }

        return notices;
    }

    private static async Task<DeliveredMail> WaitForNoticeAsync(PostfixWithDetach setup, string messageId)
    {
        var deadline = DateTime.UtcNow + PostfixWithDetach.Patience;
        while (true)
        {
            if ((await NoticesAsync(setup, messageId)).FirstOrDefault() is { } notice)
            {
                return notice;
            }

            Assert.True(DateTime.UtcNow < deadline,
                $"no notice for {messageId} in the sender's Maildir.\nPostfix log:\n{await setup.Postfix.ReadLogAsync(Token)}\n" +
                $"detach log:\n{string.Join('\n', setup.Detach.Logs.TakeLast(30))}");
            await Task.Delay(100, Token);
        }
    }

    [Fact]
    public async Task A_download_mails_the_sender_once_through_postfix()
    {
        PeerBinaries.RequirePostfix();
        PeerBinaries.RequireSwaks();
        await using var setup = await PostfixWithDetach.StartAsync(Token, ["Gateway:NotifySender=true"]);
        var (link, messageId, sha256) = await SendToAliceAsync(setup, "plans.pdf");
        Assert.Empty(await NoticesAsync(setup, messageId));

        Assert.Equal(sha256, await DownloadSha256Async(link));
        var notice = await WaitForNoticeAsync(setup, messageId);

        Assert.Equal("Downloaded: plans.pdf", notice.Header("Subject"));
        Assert.Equal("auto-generated", notice.Header("Auto-Submitted"));
        Assert.Contains(PostfixWithDetach.Sender, notice.Header("To"), StringComparison.Ordinal);
        Assert.Equal("<>", notice.Header("Return-Path"));
        Assert.Contains("Your attachment \"plans.pdf\" was downloaded for the first time on", notice.DecodedText, StringComparison.Ordinal);
        Assert.DoesNotContain(link.Split('#')[1], notice.Raw, StringComparison.Ordinal);

        // A second download: the queue drains, and still one notice.
        Assert.Equal(sha256, await DownloadSha256Async(link));
        await setup.Detach.WaitForLogAsync("Sender notice for", Token);
        await setup.Postfix.WaitForEmptyQueueAsync(PostfixWithDetach.Patience, Token);
        Assert.Single(await NoticesAsync(setup, messageId));
        Assert.Single(setup.Detach.Logs, l => l.Contains("sender notice queued", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_relay_that_is_down_gets_the_notice_once_it_is_back()
    {
        PeerBinaries.RequirePostfix();
        PeerBinaries.RequireSwaks();
        // The relay forwards to a closed port at first: every attempt finds nobody behind it.
        await using var relay = new RecordingTcpRelay(targetPort: FreePort.Next());
        await using var setup = await PostfixWithDetach.StartAsync(Token,
            ["Gateway:NotifySender=true", $"Notify:Relay=smtp://127.0.0.1:{relay.Port}", "Notify:FirstRetrySeconds=1"]);
        var (link, messageId, sha256) = await SendToAliceAsync(setup, "late.pdf");

        Assert.Equal(sha256, await DownloadSha256Async(link));
        await setup.Detach.WaitForLogAsync("will retry at", Token);
        Assert.Empty(await NoticesAsync(setup, messageId));

        relay.TargetPort = setup.Postfix.ReinjectPort;
        var notice = await WaitForNoticeAsync(setup, messageId);

        Assert.Equal("Downloaded: late.pdf", notice.Header("Subject"));
        Assert.True(relay.Connections.Count >= 2, $"{relay.Connections.Count} connection(s) to the relay");
        Assert.Contains(relay.Connections, c => c.ClientToServer.Contains("MAIL FROM:<>", StringComparison.Ordinal));
    }
}
