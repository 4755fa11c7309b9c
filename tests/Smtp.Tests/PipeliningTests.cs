using System.IO.Pipelines;
using System.Text;

namespace Detach.Smtp.Tests;

/// <summary>Runs a session over in-memory pipes to see exactly when it writes.</summary>
public class PipeliningTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A duplex stream whose writes are counted; reads come from a pipe the test feeds.</summary>
    private sealed class RecordingStream(PipeReader input) : Stream
    {
        private readonly Stream _input = input.AsStream();

        public List<string> Writes { get; } = [];

        public TaskCompletionSource<bool> Written { get; private set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => _input.ReadAsync(buffer, cancellationToken);

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            lock (Writes)
            {
                Writes.Add(Encoding.ASCII.GetString(buffer.Span));
                Written.TrySetResult(true);
            }

            return ValueTask.CompletedTask;
        }

        public async Task<string> NextWriteAsync()
        {
            await Written.Task.WaitAsync(TimeSpan.FromSeconds(30), Ct);
            lock (Writes)
            {
                Written = new(TaskCreationOptions.RunContinuationsAsynchronously);
                string all = string.Concat(Writes);
                Writes.Clear();
                return all;
            }
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }

    [Fact]
    public async Task Replies_to_a_pipelined_batch_go_out_in_one_write()
    {
        var input = new Pipe();
        var stream = new RecordingStream(input.Reader);
        var options = new SmtpServerOptions { ServerName = "mx.test" };
        var session = new SmtpSession(stream, new SmtpSessionContext("t1", null, null), new TestBackend(), options);
        Task run = session.RunAsync(Ct);
        Assert.StartsWith("220 ", await stream.NextWriteAsync(), StringComparison.Ordinal);

        await input.Writer.WriteAsync("EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nRCPT TO:<e@f>\r\nNOOP\r\n"u8.ToArray(), Ct);
        string batch = await stream.NextWriteAsync();
        string[] codes = batch.Split("\r\n", StringSplitOptions.RemoveEmptyEntries).Where(l => l[3] == ' ').Select(l => l[..3]).ToArray();
        Assert.Equal(["250", "250", "250", "250", "250"], codes);

        // DATA's 354 cannot wait for more input: the client waits for it.
        await input.Writer.WriteAsync("DATA\r\n"u8.ToArray(), Ct);
        Assert.StartsWith("354 ", await stream.NextWriteAsync(), StringComparison.Ordinal);
        await input.Writer.WriteAsync("body\r\n.\r\nQUIT\r\n"u8.ToArray(), Ct);
        await run.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        string last = await stream.NextWriteAsync();
        Assert.Equal("250 2.0.0 Ok: queued as TEST\r\n221 2.0.0 Bye\r\n", last);
    }
}
