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

    private readonly TextWriter _terminal;
    private readonly string _name;
    private readonly long? _total;
    private readonly Func<int> _width;
    private readonly TimeProvider _time;
    private readonly Queue<(long Timestamp, long Done)> _samples = new();
    private long _done;
    private long _lastDraw;
    private int _lastLength;

    public TransferProgress(TextWriter terminal, string name, long? total, long alreadyHave, Func<int> width, TimeProvider? time = null)
    {
        this._terminal = terminal;
        this._name = name;
        this._total = total;
        this._width = width;
        this._time = time ?? TimeProvider.System;
        _done = alreadyHave;
        _samples.Enqueue((this._time.GetTimestamp(), _done));
        Draw();
    }

    public void Advance(long bytes)
    {
        _done += bytes;
        var now = _time.GetTimestamp();
        if (_time.GetElapsedTime(_lastDraw, now) >= RedrawInterval)
        {
            _samples.Enqueue((now, _done));
            while (_samples.Count > 2 && _time.GetElapsedTime(_samples.Peek().Timestamp, now) > RateWindow)
            {
                _samples.Dequeue();
            }

            Draw();
        }
    }

    /// <summary>Draws the final state and ends the line, so later messages start on a line of their own.</summary>
    public void Finish()
    {
        Draw();
        _terminal.WriteLine();
        _terminal.Flush();
    }

    /// <summary>Bytes per second over the window, or null before half a second of data.</summary>
    private double? Rate()
    {
        var (firstTime, firstDone) = _samples.Peek();
        var seconds = _time.GetElapsedTime(firstTime).TotalSeconds;
        return seconds < 0.5 ? null : (_done - firstDone) / seconds;
    }

    private void Draw()
    {
        _lastDraw = _time.GetTimestamp();
        var line = Render(_name, _done, _total, Rate(), _width());

        // Pad over what the last line left, instead of an escape sequence a dumb terminal would print.
        _terminal.Write("\r" + line + new string(' ', Math.Max(0, _lastLength - line.Length)));
        _terminal.Flush();
        _lastLength = line.Length;
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
