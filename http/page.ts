/** One page of a keyset listing fetched with limit + 1 rows: the extra row only says "there is more". */
export function page<T>(rows: T[], limit: number, cursor: (row: T) => string): { items: T[]; next_cursor: string | null } {
  const items = rows.slice(0, limit);
  return { items, next_cursor: rows.length > limit ? cursor(items.at(-1)!) : null };
}
