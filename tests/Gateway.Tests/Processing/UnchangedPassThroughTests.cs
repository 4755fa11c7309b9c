using System.Text;
using Detach.Tests.Support;
using Detach.Gateway.Hosting;
using Detach.Gateway.Metrics;
using Detach.Gateway.Processing;
using Detach.Gateway.Tests.Cli;
using Microsoft.Extensions.Logging.Abstractions;

namespace Detach.Gateway.Tests.Processing;

/// <summary>
/// The proxy's shortcut (<see cref="MessageDetacher.DetachUnlessUnchangedAsync"/>: send the input spool when
/// nothing changes) must put on the wire exactly what the plain rewrite writes.
/// </summary>
public sealed class UnchangedPassThroughTests
{
    [Fact]
    public async Task A_message_without_attachments_is_not_copied_and_goes_on_as_it_came()
    {
        var message = Encoding.ASCII.GetBytes("From: a@example.com\r\nTo: b@example.test\r\nSubject: hi\r\nMessage-ID: <p@example.com>\r\n\r\nJust text.\r\n");
        var outcome = await CompareAsync([("plain", message)]);
        Assert.Equal(1, outcome.Unchanged);
    }

    [Fact]
    public async Task A_message_with_an_attachment_is_rewritten_the_same_way()
    {
        var outcome = await CompareAsync([("attachment", DataFolder.MessageWith(DataFolder.RandomBytes(200_000, 7)))]);
        Assert.Equal(1, outcome.Rewritten);
    }

    [Fact]
    public async Task Every_corpus_message_comes_out_as_the_plain_rewrite_writes_it()
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
            var plain = new MemoryStream();
            bool plainUnchanged;
            await using (var message = await detacher.DetachAsync(new MemoryStream(bytes), plain, envelope, token))
            {
                plainUnchanged = message.Result.Unchanged;
                await message.CommitAsync(token);
            }

            await using var spool = new SpillStream(data.Path);
            await spool.WriteAsync(bytes, token);
            await using var output = new SpillStream(data.Path);
            byte[] sent;
            await using (var message = await detacher.DetachUnlessUnchangedAsync(spool, output, envelope, token))
            {
                Assert.Equal(plainUnchanged, message.Result.Unchanged);
                if (message.Result.Unchanged)
                {
                    Assert.Equal(0, output.Length);
                    Assert.Equal(bytes, plain.ToArray());
                    sent = bytes;
                    unchanged++;
                }
                else
                {
                    output.Position = 0;
                    var copy = new MemoryStream();
                    await output.CopyToAsync(copy, token);
                    sent = copy.ToArray();
                    if (message.Result.Detached.Count == 0)
                    {
                        noticeOnly++;
                    }
                    else
                    {
                        rewritten++;
                    }
                }

                await message.CommitAsync(token);
            }

            // Each run stores the attachments again under fresh keys: only the links (CIDs and keys, also where a
            // long URL is split over RFC 2231 continuations) may differ, and they have the same length.
            var expected = plain.ToArray();
            Assert.Equal(expected.Length, sent.Length);
            for (var i = 0; i < sent.Length; i++)
            {
                Assert.True(expected[i] == sent[i] || (IsLinkCharacter(expected[i]) && IsLinkCharacter(sent[i])), $"{name}: differs at byte {i}");
            }
        }

        return new Outcome(unchanged, rewritten, noticeOnly);
    }

    /// <summary>The alphabets of CIDs (base32) and link keys (base64url).</summary>
    private static bool IsLinkCharacter(byte b) => char.IsAsciiLetterOrDigit((char)b) || b is (byte)'-' or (byte)'_';
}
