using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Detach.Smtp.Tests;

/// <summary>A bare-bytes SMTP peer for driving the server exactly as a test needs.</summary>
internal sealed class RawSmtpClient : IAsyncDisposable
{
    private readonly Socket _socket;
    private Stream _stream;
    private PipeReader _reader;

    private RawSmtpClient(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: false);
        _reader = PipeReader.Create(_stream, new StreamPipeReaderOptions(leaveOpen: true));
    }

    /// <param name="from">Local address to connect from (any of 127.0.0.0/8 on Linux loopback).</param>
    public static async Task<RawSmtpClient> ConnectAsync(EndPoint endPoint, bool readGreeting = true, IPAddress? from = null)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        if (from is not null)
        {
            socket.Bind(new IPEndPoint(from, 0));
        }

        await socket.ConnectAsync(endPoint, TestContext.Current.CancellationToken);
        var client = new RawSmtpClient(socket);
        if (readGreeting)
        {
            SmtpReply greeting = await client.ReadReplyAsync();
            Assert.Equal(220, greeting.Code);
        }

        return client;
    }

    public Stream Stream => _stream;

    public async Task SendAsync(string text) => await SendAsync(Encoding.UTF8.GetBytes(text));

    public async Task SendAsync(byte[] bytes)
    {
        await _stream.WriteAsync(bytes, TestContext.Current.CancellationToken);
        await _stream.FlushAsync(TestContext.Current.CancellationToken);
    }

    public async Task<SmtpReply> CommandAsync(string line)
    {
        await SendAsync(line + "\r\n");
        return await ReadReplyAsync();
    }

    public async Task<int[]> ReadCodesAsync(int count)
    {
        int[] codes = new int[count];
        for (int i = 0; i < count; i++)
        {
            codes[i] = (await ReadReplyAsync()).Code;
        }

        return codes;
    }

    public async Task<SmtpReply> ReadReplyAsync()
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        while (true)
        {
            ReadResult result = await _reader.ReadAsync(timeout.Token);
            ReadOnlySequence<byte> buffer = result.Buffer;
            if (SmtpReplyParser.Default.TryParse(ref buffer, out SmtpReply? reply))
            {
                _reader.AdvanceTo(buffer.Start);
                return reply;
            }

            _reader.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted)
            {
                throw new EndOfStreamException("Server closed the connection.");
            }
        }
    }

    /// <summary>True when the server closed the connection (after any bytes still buffered).</summary>
    public async Task<bool> IsClosedByServerAsync()
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        while (true)
        {
            ReadResult result;
            try
            {
                result = await _reader.ReadAsync(timeout.Token);
            }
            catch (IOException)
            {
                return true;
            }

            _reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                return true;
            }
        }
    }

    /// <summary>Replaces the transport (after STARTTLS) and forgets buffered bytes.</summary>
    public void Upgrade(Stream stream)
    {
        _stream = stream;
        _reader = PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true));
    }

    public void Close() => _socket.Close();

    public async ValueTask DisposeAsync()
    {
        await _reader.CompleteAsync();
        await _stream.DisposeAsync();
        _socket.Dispose();
    }
}
