using System.Text;
using Detach.Tests.Support;

namespace Detach.Smtp.Tests;

/// <summary>Every real message of the corpus through our client and server, compared byte for byte.</summary>
public class CorpusTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Corpus_messages_survive_client_and_server_unchanged_but_for_line_ends()
    {
        var messages = TestCorpus.Messages;
        Assert.NotEmpty(messages);

        var backend = new TestBackend();
        await using ServerHost host = ServerHost.Start(backend, o =>
        {
            o.Limits.MaxTextLineLength = 0;
            o.Limits.MaxMessageSize = 64L * 1024 * 1024;
        });
        await using SmtpRelayClient client = await SmtpRelayClient.ConnectAsync(host.EndPoint, new SmtpRelayClientOptions(), Ct);
        await client.HelloAsync(Ct);
        long total = 0;
        foreach (var message in messages)
        {
            string path = message.RelativePath;
            byte[] original = await File.ReadAllBytesAsync(message.FullPath, Ct);
            total += original.Length;
            Assert.Equal(250, (await client.MailAsync(new MailFromCommand("corpus@example.org", "BODY=8BITMIME", []), null, Ct)).Code);
            Assert.Equal(250, (await client.RcptAsync(new RcptToCommand("rcpt@example.net", "", []), Ct)).Code);
            await using (var file = new FileStream(message.FullPath, FileMode.Open, FileAccess.Read, FileShare.Read, 4096, useAsync: true))
            {
                SmtpReply reply = Assert.Single(await client.DataAsync(file, Ct));
                Assert.True(reply.Code == 250, $"{path}: {reply}");
            }

            ReceivedMessage received = await backend.Messages.Reader.ReadAsync(Ct);
            byte[] expected = Normalise(original);
            if (!expected.AsSpan().SequenceEqual(received.Data))
            {
                Assert.Fail($"{path}: {original.Length} octets sent, {received.Data.Length} received, expected {expected.Length}");
            }
        }

        Assert.True(total > 0);
    }

    /// <summary>Bare LF becomes CRLF and the last line gets its CRLF: all the wire may change.</summary>
    private static byte[] Normalise(byte[] message)
    {
        var output = new MemoryStream(message.Length + 1024);
        for (int i = 0; i < message.Length; i++)
        {
            if (message[i] == (byte)'\n' && (i == 0 || message[i - 1] != (byte)'\r'))
            {
                output.WriteByte((byte)'\r');
            }

            output.WriteByte(message[i]);
        }

        byte[] bytes = output.ToArray();
        if (bytes.Length == 0 || bytes[^1] == (byte)'\n')
        {
            return bytes;
        }

        return bytes[^1] == (byte)'\r' ? [.. bytes, (byte)'\n'] : [.. bytes, (byte)'\r', (byte)'\n'];
    }
}
