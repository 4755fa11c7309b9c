using Detach.Gateway.Processing;

namespace Detach.Gateway.Tests.Processing;

public sealed class SpillStreamTests : IDisposable
{
    private const int Threshold = 64 * 1024;
    private readonly string _dataPath = Directory.CreateTempSubdirectory("detach-spill-").FullName;

    public void Dispose() => Directory.Delete(_dataPath, recursive: true);

    private string[] TempFiles() =>
        Directory.Exists(Path.Combine(_dataPath, "tmp")) ? Directory.GetFiles(Path.Combine(_dataPath, "tmp")) : [];

    private static byte[] Bytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(Threshold - 1)]
    [InlineData(Threshold)]
    [InlineData(Threshold + 1)]
    [InlineData(5 * Threshold + 123)]
    public async Task Gives_back_what_was_written_and_uses_a_file_only_past_the_threshold(int size)
    {
        var data = Bytes(size, size);
        var spool = new SpillStream(_dataPath, Threshold);
        await using (spool)
        {
            // Uneven pieces, so writes straddle the memory pieces and the threshold.
            for (var at = 0; at < size; at += 7001)
            {
                await spool.WriteAsync(data.AsMemory(at, Math.Min(7001, size - at)), TestContext.Current.CancellationToken);
            }

            Assert.Equal(size, spool.Length);
            Assert.Equal(size, spool.Position);
            Assert.Equal(size > Threshold, spool.IsSpilled);
            var files = TempFiles();
            Assert.Equal(size > Threshold ? 1 : 0, files.Length);
            if (files.Length == 1 && !OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(files[0]));
            }

            spool.Position = 0;
            var copy = new MemoryStream();
            await spool.CopyToAsync(copy, TestContext.Current.CancellationToken);
            Assert.Equal(data, copy.ToArray());

            spool.Position = 0;
            var read = new byte[size + 10];
            var total = 0;
            int n;
            while ((n = spool.Read(read, total, Math.Min(3333, read.Length - total))) > 0)
            {
                total += n;
            }

            Assert.Equal(size, total);
            Assert.Equal(data, read[..size]);
        }

        Assert.Empty(TempFiles());
        Assert.Throws<ObjectDisposedException>(() => spool.Length);
    }

    [Theory]
    [InlineData(Threshold - 100)]
    [InlineData(3 * Threshold + 7)]
    public async Task Reads_at_an_offset_without_moving_its_position_in_memory_and_on_disk(int size)
    {
        var content = Bytes(size, 5);
        await using var spool = new SpillStream(_dataPath, Threshold);
        await spool.WriteAsync(content, TestContext.Current.CancellationToken);
        spool.Position = 17;
        Assert.Equal(size > Threshold, spool.IsSpilled);

        // Across a memory segment's edge (16 KiB), at the very end, and past it.
        foreach (var offset in new long[] { 0, SpillStream.SegmentSize - 5, size - 10, size, size + 50 })
        {
            var buffer = new byte[4096];
            var read = await spool.ReadAtAsync(offset, buffer, TestContext.Current.CancellationToken);
            var expected = (int)Math.Clamp(size - offset, 0, buffer.Length);
            Assert.Equal(expected, read);
            Assert.Equal(content.AsSpan((int)Math.Min(offset, size), expected).ToArray(), buffer.AsSpan(0, read).ToArray());
            Assert.Equal(expected, spool.ReadAt(offset, buffer));
        }

        Assert.Equal(17, spool.Position);
    }

    [Fact]
    public void Seeks_and_overwrites_in_the_middle_on_both_sides_of_the_threshold()
    {
        var expected = new MemoryStream();
        using var spool = new SpillStream(_dataPath, Threshold);
        var data = Bytes(Threshold - 100, 1);
        spool.Write(data);
        expected.Write(data);

        var patch = Bytes(5000, 2);
        foreach (var target in new Stream[] { spool, expected })
        {
            target.Seek(-6000, SeekOrigin.End);
            target.Write(patch);
        }

        Assert.False(spool.IsSpilled);
        Assert.Equal(expected.Position, spool.Position);

        // A write that starts in memory and ends past the threshold moves everything to disk.
        var tail = Bytes(3000, 3);
        foreach (var target in new Stream[] { spool, expected })
        {
            target.Seek(-500, SeekOrigin.End);
            target.Write(tail);
        }

        Assert.True(spool.IsSpilled);
        Assert.Equal(expected.Length, spool.Length);
        Assert.Equal(expected.Position, spool.Position);

        foreach (var target in new Stream[] { spool, expected })
        {
            target.Seek(17, SeekOrigin.Begin);
            target.Write(patch);
            target.Position = 0;
        }

        var actual = new MemoryStream();
        spool.CopyTo(actual);
        Assert.Equal(expected.ToArray(), actual.ToArray());
        Assert.Throws<IOException>(() => spool.Seek(-1, SeekOrigin.Begin));
    }

    [Fact]
    public void A_write_past_the_end_leaves_zeros_in_the_gap_even_over_reused_pool_memory()
    {
        // Dirty a pooled array first so a missing clear would show.
        using (var dirty = new SpillStream(_dataPath, Threshold))
        {
            dirty.Write(Enumerable.Repeat((byte)0xAB, SpillStream.SegmentSize * 2).ToArray());
        }

        using var spool = new SpillStream(_dataPath, Threshold);
        spool.Write([1, 2, 3]);
        spool.SetLength(1);
        spool.Position = SpillStream.SegmentSize + 10;
        spool.Write([9]);

        var all = new byte[spool.Length];
        spool.Position = 0;
        spool.ReadExactly(all);
        Assert.Equal(SpillStream.SegmentSize + 11, all.Length);
        Assert.Equal(1, all[0]);
        Assert.All(all[1..^1], b => Assert.Equal(0, b));
        Assert.Equal(9, all[^1]);
        Assert.False(spool.IsSpilled);
    }

    [Fact]
    public void Falls_back_to_disk_when_the_shared_budget_is_spent_and_gives_it_back_after()
    {
        var budget = new SpillBudget(3 * SpillStream.SegmentSize);
        var first = new SpillStream(_dataPath, Threshold, budget);
        first.Write(Bytes(2 * SpillStream.SegmentSize, 4));
        Assert.False(first.IsSpilled);
        Assert.Equal(SpillStream.SegmentSize, budget.Available);

        using var second = new SpillStream(_dataPath, Threshold, budget);
        var secondData = Bytes(SpillStream.SegmentSize + 1, 5);
        second.Write(secondData);
        Assert.True(second.IsSpilled, "two pieces were needed, one was left");
        Assert.Single(TempFiles());
        Assert.Equal(SpillStream.SegmentSize, budget.Available); // what it took before moving to disk came back

        second.Position = 0;
        var read = new byte[secondData.Length];
        second.ReadExactly(read);
        Assert.Equal(secondData, read);

        first.Dispose();
        Assert.Equal(budget.Capacity, budget.Available);
        using var third = new SpillStream(_dataPath, Threshold, budget);
        third.Write(Bytes(3 * SpillStream.SegmentSize, 6));
        Assert.False(third.IsSpilled);
        Assert.Equal(0, budget.Available);
    }

    /// <summary>The decoder takes a spool in memory where it lies: piece by piece, every byte once, none past the end.</summary>
    [Fact]
    public void Peeking_gives_the_bytes_where_they_lie_in_memory_and_nothing_once_on_disk()
    {
        var data = Bytes(3 * SpillStream.SegmentSize + 100, 11);
        using var spool = new SpillStream(_dataPath, Threshold);
        spool.Write(data);
        var peeked = new List<byte>();
        for (long at = 7; spool.TryPeek(at, out var memory) && !memory.IsEmpty; at += memory.Length)
        {
            Assert.InRange(memory.Length, 1, SpillStream.SegmentSize - (at % SpillStream.SegmentSize));
            peeked.AddRange(memory.ToArray());
        }

        Assert.Equal(data[7..], peeked);
        Assert.True(spool.TryPeek(data.Length + 5, out var past) && past.IsEmpty);

        spool.Write(Bytes(Threshold, 12)); // past the threshold: on disk now
        Assert.True(spool.IsSpilled);
        Assert.False(spool.TryPeek(0, out _));
    }

    [Fact]
    public void Spools_under_one_budget_reuse_each_others_pieces_instead_of_allocating_new_ones()
    {
        // 4 MiB: 256 pieces, far more than the runtime's shared pool keeps of one size.
        const int Size = 4 * 1024 * 1024;
        var budget = new SpillBudget(Size);
        var data = Bytes(Size, 8);
        using (var first = new SpillStream(_dataPath, Size, budget))
        {
            first.Write(data);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        using (var second = new SpillStream(_dataPath, Size, budget))
        {
            second.Write(data);
            Assert.False(second.IsSpilled);
        }

        Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - before, 0, 64 * 1024);
    }

    [Fact]
    public void The_budget_never_goes_below_zero_under_contention()
    {
        var budget = new SpillBudget(100 * SpillStream.SegmentSize);
        var spilled = 0;
        Parallel.For(0, 64, i =>
        {
            using var spool = new SpillStream(_dataPath, Threshold, budget);
            spool.Write(Bytes(3 * SpillStream.SegmentSize, i));
            Assert.True(budget.Available >= 0);
            if (spool.IsSpilled)
            {
                Interlocked.Increment(ref spilled);
            }
        });

        Assert.Equal(budget.Capacity, budget.Available);
        Assert.Empty(TempFiles());
    }

    /// <summary>
    /// The SMTP front copies DATA into the spool on the socket event thread that serves every session: writing to
    /// memory may stay there, but the spill to disk, and every file read or write after it, must leave it.
    /// </summary>
    [Fact]
    public async Task Disk_work_started_from_a_thread_that_is_not_a_pool_thread_runs_on_the_pool()
    {
        var token = TestContext.Current.CancellationToken;
        var spool = new SpillStream(_dataPath, Threshold);
        await using (spool)
        {
            var diskWork = new List<bool>();
            spool.OnDiskWork = () =>
            {
                lock (diskWork)
                {
                    diskWork.Add(Thread.CurrentThread.IsThreadPoolThread);
                }
            };

            await StartOnOwnThread(() => spool.WriteAsync(Bytes(Threshold / 2, 1), token).AsTask());
            Assert.Empty(diskWork);
            Assert.False(spool.IsSpilled);
            await StartOnOwnThread(() => spool.WriteAsync(Bytes(3 * Threshold, 2), token).AsTask());
            await StartOnOwnThread(() => spool.WriteAsync(Bytes(100, 3), token).AsTask());
            await StartOnOwnThread(() => spool.FlushAsync(token));
            spool.Position = 0;
            await StartOnOwnThread(() => spool.ReadAsync(new byte[1000], token).AsTask());
            await StartOnOwnThread(() => spool.CopyToAsync(Stream.Null, token));

            Assert.True(spool.IsSpilled);
            Assert.True(diskWork.Count >= 5, $"{diskWork.Count} disk operations seen");
            Assert.All(diskWork, Assert.True);
        }
    }

    /// <summary>Starts <paramref name="step"/> on a new thread (not a pool thread, as the socket event thread is not) and waits for it.</summary>
    private static Task StartOnOwnThread(Func<Task> step)
    {
        Task? started = null;
        var thread = new Thread(() => started = step());
        thread.Start();
        thread.Join();
        return started!;
    }
}
