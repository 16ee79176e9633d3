// src/components/NotificationBell.tsx
import { useEffect, useState } from 'react';
import { useSocket } from '@/hooks/useSocket';
import { Badge, IconButton } from '@mui/material';
import NotificationsIcon from '@mui/icons-material/Notifications';

export function NotificationBell() {
  const { on, isConnected } = useSocket();
  const [unreadCount, setUnreadCount] = useState(0);

  useEffect(() => {
    // Escuchar actualizaciones del contador
    const unsubscribe = on('notification:unread_count', (data) => {
      setUnreadCount(data.unreadCount);
    });

    return unsubscribe;
  }, [on]);

  useEffect(() => {
    // Escuchar nuevas notificaciones
    const unsubscribe = on('notification:new', (data) => {
      // Mostrar toast o actualizar lista
      console.log('Nueva notificación:', data.notification);
      setUnreadCount((prev) => prev + 1);
    });

    return unsubscribe;
  }, [on]);

  return (
    <IconButton color={isConnected ? 'primary' : 'default'}>
      <Badge badgeContent={unreadCount} color="error">
        <NotificationsIcon />
      </Badge>
    </IconButton>
  );
}
