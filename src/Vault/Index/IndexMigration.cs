namespace Detach.Vault.Index;

/// <summary>One schema step; versions are applied in ascending order, each once, recorded in schema_version.</summary>
internal sealed record IndexMigration(int Version, string Description, string Sql);
