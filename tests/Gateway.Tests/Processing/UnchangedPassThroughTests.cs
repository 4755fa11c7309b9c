using System.Text;
using Detach.Tests.Support;
using Detach.Gateway.Hosting;
using Detach.Gateway.Metrics;
using Detach.Gateway.Processing;
using Detach.Gateway.Tests.Cli;
using Microsoft.Extensions.Logging.Abstractions;

namespace Detach.Gateway.Tests.Processing;

/// <summary>
/// The proxy's shortcut (send the input spool when <see cref="Detach.Mime.PreparedMessage.Unchanged"/>) must put on the
/// wire exactly what writing the prepared message gives, and writing it twice must give the same bytes.
/// </summary>
public sealed class UnchangedPassThroughTests
{
    [Fact]
    public async Task A_message_without_attachments_is_unchanged_and_writes_as_it_came()
    {
        var message = Encoding.ASCII.GetBytes("From: a@example.com\r\nTo: b@example.test\r\nSubject: hi\r\nMessage-ID: <p@example.com>\r\n\r\nJust text.\r\n");
        var outcome = await CompareAsync([("plain", message)]);
        Assert.Equal(1, outcome.Unchanged);
    }

    [Fact]
    public async Task A_message_with_an_attachment_is_rewritten_the_same_way_each_time()
    {
        var outcome = await CompareAsync([("attachment", DataFolder.MessageWith(DataFolder.RandomBytes(200_000, 7)))]);
        Assert.Equal(1, outcome.Rewritten);
    }

    [Fact]
    public async Task Every_corpus_message_is_unchanged_exactly_when_its_output_is_its_input()
    {
        foreach (var set in TestCorpus.Messages.GroupBy(m => m.Set))
        {
            var outcome = await CompareAsync(set.Select(m => (m.RelativePath, File.ReadAllBytes(m.FullPath))).ToList());
            Assert.True(outcome.Unchanged > 0 && outcome.Rewritten > 0, $"{set.Key}: {outcome}");
        }
    }

    private sealed record Outcome(int Unchanged, int Rewritten, int NoticeOnly);

    private static async Task<Outcome> CompareAsync(IReadOnlyList<(string Name, byte[] Bytes)> messages)
    {
        var token = TestContext.Current.CancellationToken;
        using var data = new DataFolder();
        var settings = data.Settings();
        await using var components = await VaultComponents.OpenAsync(settings, token);
        using var metrics = new DetachMetrics();
        var detacher = new MessageDetacher(components.Vault, settings, metrics, NullLogger<MessageDetacher>.Instance);
        var envelope = new MessageEnvelope("ann@example.com", 1);
        int unchanged = 0, rewritten = 0, noticeOnly = 0;
        foreach (var (name, bytes) in messages)
        {
            await using var spool = new SpillStream(data.Path);
            await spool.WriteAsync(bytes, token);
            await using var message = await detacher.PrepareAsync(spool, envelope, token);
            var first = new MemoryStream();
            await message.WriteToAsync(first, token);
            var second = new MemoryStream();
            await message.WriteToAsync(second, token);
            Assert.True(first.ToArray().AsSpan().SequenceEqual(second.ToArray()), $"{name}: a second write differs");
            Assert.True(message.Result.Unchanged == first.ToArray().AsSpan().SequenceEqual(bytes), $"{name}: Unchanged is {message.Result.Unchanged}");
            if (message.Result.Unchanged)
            {
                unchanged++;
            }
            else if (message.Result.Detached.Count == 0)
            {
                noticeOnly++;
            }
            else
            {
                rewritten++;
            }

            await message.CommitAsync(token);
        }

        return new Outcome(unchanged, rewritten, noticeOnly);
    }
}
