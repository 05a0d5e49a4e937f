/** An API key as listed: never the key itself, nor its hash. */
export interface ApiKey {
  id: string;
  facilityId: string;
  name: string;
  scopes: string[];
  createdAt: Date;
  createdBy: { id: string; name: string };
}
