/** What the engine reports to the owner of callbacks. */
export interface DeliveryEvent {
  id: string;
  event: 'delivered' | 'dead-lettered';
  attempts: number;
  status?: number;
  reason?: string;
  error?: string;
  at: number;
}
