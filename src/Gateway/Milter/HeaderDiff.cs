using Detach.Milter;

namespace Detach.Gateway.Milter;

/// <summary>
/// The milter edits that turn the header the MTA has into the one the detacher wrote. Fields the detacher copied
/// are matched byte for byte (longest common subsequence); between two matched fields, a removed and an added field
/// of the same name become a change in place (SMFIR_CHGHEADER) when that keeps the order of the fields, other
/// removed fields deletions (an empty value).
/// Added fields before every kept one go to the top (SMFIR_INSHEADER at 0, as the detacher puts X-Detach there);
/// any other added field is appended (SMFIR_ADDHEADER): an index in the middle would count differently per MTA
/// (Postfix counts its own Received field, which it never shows the milter), and the detacher adds fields only at
/// the top and the end.
/// </summary>
/// <remarks>
/// Changes and deletions go out in descending position, so that no edit moves the per-name index of one still to
/// come (Postfix drops a deleted field from its count, Sendmail keeps it); then the top insertions, last first; then
/// the appended fields in order.
/// </remarks>
public static class HeaderDiff
{
    public static List<MilterHeaderEdit> Edits(IReadOnlyList<RawHeaderField> original, IReadOnlyList<RawHeaderField> rewritten)
    {
        var changes = new List<(int Position, MilterHeaderEdit Edit)>();
        var top = new List<MilterHeaderEdit>();
        var appended = new List<MilterHeaderEdit>();
        bool keptBefore = false;
        int o = 0, r = 0;
        foreach (var (matchO, matchR) in Match(original, rewritten).Append((original.Count, rewritten.Count)))
        {
            // The gap before this match: original[o..matchO) left out, rewritten[r..matchR) written anew.
            var removed = Enumerable.Range(o, matchO - o).ToList();
            int after = o; // a change must not move before one already paired: the order of fields is kept
            bool appending = false; // nor before a field already appended at the end
            for (; r < matchR; r++)
            {
                var field = rewritten[r];
                int same = appending ? -1 : removed.FindIndex(i => i >= after && original[i].SameName(field));
                if (same >= 0)
                {
                    int position = removed[same];
                    removed.RemoveAt(same);
                    after = position + 1;
                    changes.Add((position, MilterHeaderEdit.Change(Occurrence(original, position), field.Name, field.Value)));
                    keptBefore = true;
                }
                else if (keptBefore)
                {
                    appended.Add(MilterHeaderEdit.Add(field.Name, field.Value));
                    appending = true;
                }
                else
                {
                    top.Add(MilterHeaderEdit.Insert(0, field.Name, field.Value));
                }
            }

            foreach (var position in removed)
            {
                changes.Add((position, MilterHeaderEdit.Delete(Occurrence(original, position), original[position].Name)));
            }

            keptBefore |= matchO < original.Count;
            o = matchO + 1;
            r = matchR + 1;
        }

        top.Reverse();
        return [.. changes.OrderByDescending(c => c.Position).Select(c => c.Edit), .. top, .. appended];
    }

    /// <summary>1-based: the how-many-th field of its name the field at <paramref name="position"/> is.</summary>
    private static int Occurrence(IReadOnlyList<RawHeaderField> fields, int position)
    {
        int n = 0;
        for (int i = 0; i <= position; i++)
        {
            if (fields[i].SameName(fields[position]))
            {
                n++;
            }
        }

        return n;
    }

    /// <summary>Pairs of equal fields (original index, rewritten index), in order: a longest common subsequence.</summary>
    private static List<(int O, int R)> Match(IReadOnlyList<RawHeaderField> a, IReadOnlyList<RawHeaderField> b)
    {
        // Fields the two share at either end need no table: most rewrites only add X-Detach on top.
        int head = 0;
        while (head < a.Count && head < b.Count && a[head].SameBytes(b[head]))
        {
            head++;
        }

        int tail = 0;
        while (tail < a.Count - head && tail < b.Count - head && a[a.Count - 1 - tail].SameBytes(b[b.Count - 1 - tail]))
        {
            tail++;
        }

        int n = a.Count - head - tail, m = b.Count - head - tail;
        var length = new int[(n + 1) * (m + 1)];
        for (int i = n - 1; i >= 0; i--)
        {
            for (int j = m - 1; j >= 0; j--)
            {
                length[(i * (m + 1)) + j] = a[head + i].SameBytes(b[head + j])
                    ? length[((i + 1) * (m + 1)) + j + 1] + 1
                    : Math.Max(length[((i + 1) * (m + 1)) + j], length[(i * (m + 1)) + j + 1]);
            }
        }

        var pairs = new List<(int, int)>(head + tail + Math.Min(n, m));
        for (int k = 0; k < head; k++)
        {
            pairs.Add((k, k));
        }

        for (int i = 0, j = 0; i < n && j < m;)
        {
            if (a[head + i].SameBytes(b[head + j]))
            {
                pairs.Add((head + i++, head + j++));
            }
            else if (length[((i + 1) * (m + 1)) + j] >= length[(i * (m + 1)) + j + 1])
            {
                i++;
            }
            else
            {
                j++;
            }
        }

        for (int k = tail; k > 0; k--)
        {
            pairs.Add((a.Count - k, b.Count - k));
        }

        return pairs;
    }
}
