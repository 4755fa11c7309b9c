using System.Buffers;
using System.Net;
using Package = global::SmtpServer;

namespace Detach.Smtp.Tests;

/// <summary>
/// What the SmtpServer package (11.1.0) offers against Detach's needs, measured (docs/dependencies.md). Explicit: it
/// moves 64 MiB through each server, so it runs only when asked
/// (<c>dotnet test tests/Smtp.Tests --filter SmtpServerPackageSpike -- --explicit on</c>).
/// </summary>
public class SmtpServerPackageSpike
{
    private const int MessageSize = 64 * 1024 * 1024;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact(Explicit = true)]
    public async Task The_package_hands_the_store_the_whole_message_and_lacks_bdat_lhlo_and_xforward()
    {
        int port = FreePort.Next();
        var store = new MeasuringStore();
        var options = new Package.SmtpServerOptionsBuilder().ServerName("package.test")
            .Endpoint(e => e.Endpoint(new IPEndPoint(IPAddress.Loopback, port)))
            .MaxMessageSize(int.MaxValue, Package.MaxMessageSizeHandling.Ignore).Build();
        var services = new Package.ComponentModel.ServiceProvider();
        services.Add(store);
        var server = new Package.SmtpServer(options, services);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        Task running = server.StartAsync(stop.Token);

        await using (RawSmtpClient raw = await RawSmtpClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)))
        {
            RawSmtpReply ehlo = await raw.CommandAsync("EHLO probe.test");
            Report("package EHLO: " + string.Join(" | ", ehlo.Lines));
            Assert.DoesNotContain(ehlo.Lines, l => l.StartsWith("CHUNKING", StringComparison.Ordinal) || l.StartsWith("XFORWARD", StringComparison.Ordinal) || l.StartsWith("XCLIENT", StringComparison.Ordinal));
            foreach (string command in new[] { "LHLO probe.test", "XFORWARD ADDR=192.0.2.1", "XCLIENT ADDR=192.0.2.1", "BDAT 0 LAST" })
            {
                RawSmtpReply reply = await raw.CommandAsync(command);
                Report($"package {command.Split(' ')[0]}: {reply.Code} {reply.Lines[0]}");
                Assert.True(reply.Code >= 500, command);
            }
        }

        long packageAllocated = await SendAsync(port);
        Assert.Equal(MessageSize, store.LargestBuffer); // the whole message in one sequence
        Report($"package: SaveAsync got one ReadOnlySequence of {store.LargestBuffer:N0} bytes; {packageAllocated / 1048576.0:F0} MiB allocated for the message");
        await stop.CancelAsync();
        server.Shutdown();
        await Task.WhenAny(running, Task.Delay(TimeSpan.FromSeconds(10), CancellationToken.None));

        var backend = new TestBackend { OnData = async (message, cancellationToken) => { await message.CopyToAsync(Stream.Null, cancellationToken); return new SmtpReply(250, "2.0.0", "Ok"); } };
        await using ServerHost ours = ServerHost.Start(backend, o => o.Limits.MaxMessageSize = 2L * MessageSize);
        long oursAllocated = await SendAsync(ours.EndPoint.Port);
        Report($"ours: the backend reads a stream; {oursAllocated / 1048576.0:F1} MiB allocated for the message");
        Assert.True(oursAllocated < packageAllocated / 8);
    }

    /// <summary>Sends one message of <see cref="MessageSize"/> bytes and returns the bytes this process allocated meanwhile.</summary>
    private static async Task<long> SendAsync(int port)
    {
        await using SmtpRelayClient client = await SmtpRelayClient.OpenAsync(new IPEndPoint(IPAddress.Loopback, port), new SmtpRelayClientOptions(), Ct);
        await client.MailAsync(new MailFromCommand("a@example.org", "", []), null, Ct);
        await client.RcptAsync(new RcptToCommand("b@example.test", "", []), Ct);
        byte[] line = new byte[1000];
        Array.Fill(line, (byte)'x');
        line[^2] = (byte)'\r';
        line[^1] = (byte)'\n';
        var message = new RepeatingStream(line, MessageSize);
        long before = GC.GetTotalAllocatedBytes(precise: true);
        SmtpReply reply = (await client.DataAsync(message, Ct))[0];
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        Assert.Equal(250, reply.Code);
        return allocated;
    }

    private static void Report(string line) => TestContext.Current.TestOutputHelper?.WriteLine(line);

    private sealed class MeasuringStore : Package.Storage.MessageStore
    {
        public long LargestBuffer { get; private set; }

        public override Task<Package.Protocol.SmtpResponse> SaveAsync(Package.ISessionContext context, Package.IMessageTransaction transaction, ReadOnlySequence<byte> buffer, CancellationToken cancellationToken)
        {
            LargestBuffer = Math.Max(LargestBuffer, buffer.Length);
            return Task.FromResult(Package.Protocol.SmtpResponse.Ok);
        }
    }

    /// <summary>A read-only stream of <paramref name="length"/> bytes repeating <paramref name="pattern"/>, allocating nothing per read.</summary>
    private sealed class RepeatingStream(byte[] pattern, long length) : Stream
    {
        private long _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => length;

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            int n = (int)Math.Min(count, length - _position);
            for (int i = 0; i < n; i++)
            {
                buffer[offset + i] = pattern[(_position + i) % pattern.Length];
            }

            _position += n;
            return n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => Task.FromResult(Read(buffer, offset, count));

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            byte[] array = ArrayPool<byte>.Shared.Rent(buffer.Length);
            int n = Read(array, 0, buffer.Length);
            array.AsSpan(0, n).CopyTo(buffer.Span);
            ArrayPool<byte>.Shared.Return(array);
            return ValueTask.FromResult(n);
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
