using System.Text;
using Detach.Mime;

namespace Detach.Gateway.Fetch;

/// <summary>
/// One line on a terminal, redrawn in place at most ten times a second: name, percentage, bar, bytes, rate and
/// time left. The rate is measured over the last few seconds of this run only, so a resumed download neither
/// counts the bytes it started with as if they had just arrived nor keeps a stale average. Plain text and
/// carriage returns (no cursor movement or colour), so any terminal, `script` and CI logs show it the same way.
/// </summary>
public sealed class TransferProgress
{
    private static readonly TimeSpan RedrawInterval = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan RateWindow = TimeSpan.FromSeconds(5);

    private readonly TextWriter terminal;
    private readonly string name;
    private readonly long? total;
    private readonly Func<int> width;
    private readonly TimeProvider time;
    private readonly Queue<(long Timestamp, long Done)> samples = new();
    private long done;
    private long lastDraw;
    private int lastLength;

    public TransferProgress(TextWriter terminal, string name, long? total, long alreadyHave, Func<int> width, TimeProvider? time = null)
    {
        this.terminal = terminal;
        this.name = name;
        this.total = total;
        this.width = width;
        this.time = time ?? TimeProvider.System;
        done = alreadyHave;
        samples.Enqueue((this.time.GetTimestamp(), done));
        Draw();
    }

    public void Advance(long bytes)
    {
        done += bytes;
        var now = time.GetTimestamp();
        if (time.GetElapsedTime(lastDraw, now) >= RedrawInterval)
        {
            samples.Enqueue((now, done));
            while (samples.Count > 2 && time.GetElapsedTime(samples.Peek().Timestamp, now) > RateWindow)
            {
                samples.Dequeue();
            }

            Draw();
        }
    }

    /// <summary>Draws the final state and ends the line, so later messages start on a line of their own.</summary>
    public void Finish()
    {
        Draw();
        terminal.WriteLine();
        terminal.Flush();
    }

    /// <summary>Bytes per second over the window, or null before half a second of data.</summary>
    private double? Rate()
    {
        var (firstTime, firstDone) = samples.Peek();
        var seconds = time.GetElapsedTime(firstTime).TotalSeconds;
        return seconds < 0.5 ? null : (done - firstDone) / seconds;
    }

    private void Draw()
    {
        lastDraw = time.GetTimestamp();
        var line = Render(name, done, total, Rate(), width());

        // Pad over what the last line left, instead of an escape sequence a dumb terminal would print.
        terminal.Write("\r" + line + new string(' ', Math.Max(0, lastLength - line.Length)));
        terminal.Flush();
        lastLength = line.Length;
    }

    /// <summary>The line itself, at most <paramref name="width"/> - 1 characters (the last column would wrap).</summary>
    public static string Render(string name, long done, long? total, double? bytesPerSecond, int width)
    {
        width = Math.Max(40, width) - 1;
        var amount = total is { } all ? $"{SizeText.Format(done)} of {SizeText.Format(all)}" : SizeText.Format(done);
        var rate = bytesPerSecond is { } r ? $"{SizeText.Format((long)r)}/s" : "";
        var left = total is { } whole && bytesPerSecond is > 0 ? Remaining(TimeSpan.FromSeconds((whole - done) / bytesPerSecond.Value)) + " left" : "";
        var tail = string.Join("  ", new[] { amount, rate, left }.Where(p => p.Length > 0));

        var percent = total is > 0 ? (int)(100 * done / total.Value) : 100;
        var head = total is null ? "" : $"{percent,3}% ";
        var nameRoom = Math.Clamp(width / 3, 8, 40);
        var shownName = name.Length <= nameRoom ? name : name[..(nameRoom - 1)] + "…";
        var line = new StringBuilder(shownName).Append("  ").Append(head);
        var barRoom = width - line.Length - tail.Length - 3;
        if (total is not null && barRoom >= 10)
        {
            var filled = (int)((long)barRoom * Math.Min(100, percent) / 100);
            line.Append('[').Append('#', filled).Append('.', barRoom - filled).Append("] ");
        }

        line.Append(tail);
        return line.Length <= width ? line.ToString() : line.ToString(0, width);
    }

    private static string Remaining(TimeSpan left) => left.TotalSeconds switch
    {
        < 1 => "<1 s",
        < 60 => $"{(int)left.TotalSeconds} s",
        < 3600 => $"{(int)left.TotalMinutes} min {left.Seconds:00} s",
        < 100 * 3600 => $"{(int)left.TotalHours} h {left.Minutes:00} min",
        _ => "a long time",
    };
}
