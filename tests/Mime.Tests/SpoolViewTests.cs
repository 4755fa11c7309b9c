using System.Text;

namespace Detach.Mime.Tests;

/// <summary>
/// Views of a spooled message read where their bytes lie (pread on a file spool): they never move the spool's position,
/// so views of different parts can be open and read at the same time, which positioning one shared stream before
/// each read could not promise.
/// </summary>
public sealed class SpoolViewTests
{
    [Fact]
    public async Task Bodies_of_a_file_spool_read_at_once_from_many_tasks_each_get_their_own_bytes()
    {
        var first = MessageBuilder.RandomBytes(300_000, 11);
        var second = MessageBuilder.RandomBytes(250_000, 12);
        var message = Mail.Crlf(
            "Content-Type: multipart/mixed; boundary=b\n\n" +
            "--b\nContent-Type: application/octet-stream; name=a.bin\nContent-Transfer-Encoding: base64\n\n" + MessageBuilder.Base64Lines(first, "\n") + "\n" +
            "--b\nContent-Type: application/octet-stream; name=b.bin\nContent-Transfer-Encoding: base64\n\n" + MessageBuilder.Base64Lines(second, "\n") + "\n" +
            "--b--\n");
        var path = Path.Combine(Path.GetTempPath(), $"detach-spool-{Guid.NewGuid():N}.eml");
        await File.WriteAllBytesAsync(path, message, TestContext.Current.CancellationToken);
        try
        {
            await using var spool = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.Asynchronous);
            var structure = await MimeStructure.ParseAsync(spool, cancellationToken: TestContext.Current.CancellationToken);
            var parts = structure.Root.Children;
            spool.Position = 12_345; // wherever the spool's owner left it: no view may move it

            // Eight readers over the two bodies, small reads, all at once: each view's bytes must be its own.
            var readers = Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
            {
                await using var body = structure.OpenBody(parts[i % 2]);
                using var copy = new MemoryStream();
                var buffer = new byte[97 + i];
                int read;
                while ((read = await body.ReadAsync(buffer, TestContext.Current.CancellationToken)) > 0)
                {
                    copy.Write(buffer, 0, read);
                    await Task.Yield();
                }

                return copy.ToArray();
            }, TestContext.Current.CancellationToken)).ToArray();

            var results = await Task.WhenAll(readers);
            for (int i = 0; i < results.Length; i++)
            {
                Assert.Equal(i % 2 == 0 ? first : second, results[i]);
            }

            Assert.Equal(12_345, spool.Position);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task A_raw_range_and_a_decoded_body_interleave_without_disturbing_each_other()
    {
        var data = MessageBuilder.RandomBytes(40_000, 13);
        var message = Mail.Crlf(MessageBuilder.WithAttachment(data));
        using var spool = new MemoryStream(message);
        var structure = await MimeStructure.ParseAsync(spool, cancellationToken: TestContext.Current.CancellationToken);
        var attachment = structure.Root.Children[^1];

        await using var decoded = structure.OpenBody(attachment);
        await using var raw = structure.OpenRawBody(attachment);
        var decodedBytes = new MemoryStream();
        var rawBytes = new MemoryStream();
        var buffer = new byte[1000];
        int d, r;
        do
        {
            d = decoded.Read(buffer, 0, 333);
            decodedBytes.Write(buffer, 0, d);
            r = raw.Read(buffer, 0, 512);
            rawBytes.Write(buffer, 0, r);
        }
        while (d > 0 || r > 0);

        Assert.Equal(data, decodedBytes.ToArray());
        Assert.Equal(Convert.ToBase64String(data), Encoding.ASCII.GetString(rawBytes.ToArray()).Replace("\r\n", "", StringComparison.Ordinal));
    }
}
